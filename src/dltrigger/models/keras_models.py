"""The classifiers in (legacy) Keras, as the original notebooks built them: Masking(0) -> GRU(50) ->
Dropout(0.2) for the particle rows, softmax outputs, Keras's own parameter counting. Import only in a
process with ``TF_USE_LEGACY_KERAS=1`` (the keras engine's training processes set it)."""

from __future__ import annotations

from ..core.registry import MODELS
from ..core.schema import HLF_NAMES, LLF_NAMES, N_ROWS
from . import ATTENTION_HEADS, ATTENTION_KEY_DIM, ATTENTION_UNITS, DROPOUT, N_CLASSES, RNN_UNITS, ROW_UNITS

# The particle branches it builds (None: the HLF network).
BRANCHES = (None, "gru", "lstm", "attention")


def build(model: str):
    """A fresh, uncompiled model; it takes the inputs named in ``MODELS[model]``, in that order."""
    import tf_keras as keras
    from tf_keras import layers

    inputs, cell = MODELS[model].inputs, MODELS[model].branch
    hlf = keras.Input(shape=(len(HLF_NAMES),), name="HLF_input")
    if model == "hlf":
        hidden = hlf
        for units in (50, 20, 10):
            hidden = layers.Dense(units, activation="relu")(hidden)
        return keras.Model(hlf, layers.Dense(N_CLASSES, activation="softmax")(hidden), name=model)
    particles = keras.Input(shape=(N_ROWS, len(LLF_NAMES)), name="GRU_input")
    if cell == "attention":  # the original's Transformer branch, layer for layer
        attended = layers.MultiHeadAttention(num_heads=ATTENTION_HEADS, key_dim=ATTENTION_KEY_DIM)(particles, particles, particles)
        rows = layers.TimeDistributed(layers.Dense(ROW_UNITS, activation="relu"))(
            layers.Dropout(DROPOUT)(layers.LayerNormalization(epsilon=1e-6)(attended))
        )
        sequence = layers.Dense(ATTENTION_UNITS, activation="relu")(layers.Flatten()(rows))
    else:
        recurrent = layers.GRU if cell == "gru" else layers.LSTM
        sequence = layers.Dropout(DROPOUT)(recurrent(RNN_UNITS, activation="tanh")(layers.Masking(mask_value=0.0)(particles)))
    if inputs == ("GRU_input",):
        return keras.Model(particles, layers.Dense(N_CLASSES, activation="softmax")(sequence), name=model)
    merged = layers.Concatenate()([sequence, layers.Dropout(DROPOUT)(hlf)])
    output = layers.Dense(N_CLASSES, activation="softmax")(layers.Dense(25, activation="relu")(merged))
    return keras.Model([particles, hlf], output, name=model)


def trainable_parameters(model) -> int:
    return int(sum(weight.shape.num_elements() for weight in model.trainable_weights))
