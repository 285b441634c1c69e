"""The original study's classifiers, defined once per training engine (``torch_models``,
``keras_models``, ``bigdl_models``) from the same table of shapes, and the engines' model files."""

from __future__ import annotations

N_CLASSES = 3
RNN_UNITS = 50
DROPOUT = 0.2

# name: (inputs it reads, recurrent cell, trainable parameters counted as Keras counts them)
MODELS = {
    "hlf": (("HLF_input",), None, 2013),
    "particle": (("GRU_input",), "gru", 10803),
    "inclusive": (("GRU_input", "HLF_input"), "gru", 12353),
    "inclusive_lstm": (("GRU_input", "HLF_input"), "lstm", 15703),
}


# The training engines and the file each writes its trained model to (named after the engine, so that a
# rule with an {engine} wildcard can declare it).
MODEL_FILES = {engine: f"model.{engine}" for engine in ("torch", "keras", "bigdl")}
ENGINES = tuple(MODEL_FILES)


def inputs_of(model: str) -> tuple[str, ...]:
    return MODELS[model][0]


def keras_parameters(model: str) -> int:
    return MODELS[model][2]
