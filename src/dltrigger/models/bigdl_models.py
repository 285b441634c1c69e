"""The classifiers in BigDL's Keras-style API (``bigdl.dllib.keras``), as the original's BigDL/Analytics Zoo
notebooks built them. Imported only by the BigDL job, in the BigDL environment (.venvs/bigdl).

BigDL's GRU follows Keras 1: one bias per gate and the reset gate applied before the recurrent product,
so each GRU(50) on 19 features has 10,500 parameters where Keras 2 (reset_after=True) and PyTorch count
10,650; every other layer matches (``bigdl_parameters``)."""

from __future__ import annotations

from ..core.registry import MODELS
from . import DROPOUT, N_CLASSES, RNN_UNITS

# The particle branches it builds (None: the HLF network); BigDL's Keras API has no multi-head attention.
BRANCHES = (None, "gru", "lstm")


def build(model: str, shapes: dict):
    """A fresh model; it takes the inputs named in ``MODELS[model]``, in that order (``shapes``: name ->
    shape of one event, as the training data has them)."""
    from bigdl.dllib.keras.layers import GRU, LSTM, Dense, Dropout, Input, Masking, merge
    from bigdl.dllib.keras.models import Model

    inputs, cell = MODELS[model].inputs, MODELS[model].branch
    hlf = Input(shape=tuple(shapes["HLF_input"]), name="HLF_input")
    if model == "hlf":
        hidden = hlf
        for units in (50, 20, 10):
            hidden = Dense(units, activation="relu")(hidden)
        return Model(hlf, Dense(N_CLASSES, activation="softmax")(hidden))
    particles = Input(shape=tuple(shapes["GRU_input"]), name="GRU_input")
    recurrent = GRU if cell == "gru" else LSTM
    sequence = Dropout(DROPOUT)(recurrent(RNN_UNITS, activation="tanh")(Masking(0.0)(particles)))
    if inputs == ("GRU_input",):
        return Model(particles, Dense(N_CLASSES, activation="softmax")(sequence))
    merged = merge([sequence, Dropout(DROPOUT)(hlf)], mode="concat")
    return Model([particles, hlf], Dense(N_CLASSES, activation="softmax")(Dense(25, activation="relu")(merged)))


def bigdl_parameters(model: str) -> int:
    """Trainable parameters of the BigDL model: the Keras count less the GRU's second bias vector."""
    return MODELS[model].keras_parameters - (3 * RNN_UNITS if MODELS[model].branch == "gru" else 0)
