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
    # The original's Transformer variant: self-attention over all 801 rows in place of the GRU branch.
    "inclusive_transformer": (("GRU_input", "HLF_input"), "attention", 173378),
    # Beyond the original: a permutation-invariant particle cloud (EdgeConv, as ParticleNet) in place of
    # the GRU branch; torch only. Its count is ours (no Keras original): stated, not matched.
    "inclusive_pcloud": (("GRU_input", "HLF_input"), "edgeconv", 17221),
    # The other particle-cloud design, measured against it: a ParT-style transformer (attention over the
    # same leading particles, biased by their pairs' interaction features); torch only, its count ours.
    "inclusive_part": (("GRU_input", "HLF_input"), "pairattention", 20321),
}
# The widths of the particle cloud's two EdgeConv blocks (how many particles it reads and how many
# neighbours each has come from config: train.particle_cloud).
CLOUD_WIDTHS = (32, 64)
# The ParT-style cloud: particle embedding width, attention heads, blocks, hidden width of their MLPs;
# the interaction features of a pair (ln Δ, ln k_T, ln z, ln m²) and the hidden width of the MLP that
# turns them into each head's attention bias.
PAIR_WIDTH, PAIR_HEADS, PAIR_BLOCKS, PAIR_HIDDEN = 32, 4, 2, 64
PAIR_FEATURES, PAIR_EMBEDDING = 4, 16
PARTICLE_CLOUDS = ("edgeconv", "pairattention")
# The Transformer branch: 8 heads of key size 19, then a Dense(20) per row, flattened, to Dense(10).
ATTENTION_HEADS, ATTENTION_KEY_DIM, ROW_UNITS, ATTENTION_UNITS = 8, 19, 20, 10


# The training engines and the file each writes its trained model to (named after the engine, so that a
# rule with an {engine} wildcard can declare it).
MODEL_FILES = {engine: f"model.{engine}" for engine in ("torch", "keras", "bigdl")}
ENGINES = tuple(MODEL_FILES)


# The original's tree baselines on the 14 HLF, trained by Spark ML and XGBoost whatever the engine.
TREE_MODELS = ("rf", "xgboost")


def engines_of(model: str) -> tuple[str, ...]:
    """The training engines that have ``model``: BigDL's Keras API has no multi-head attention, and the
    particle clouds exist in torch only."""
    cell = MODELS[model][1]
    return ("torch",) if cell in PARTICLE_CLOUDS else ("torch", "keras") if cell == "attention" else ENGINES


def reads_particle_cloud(model: str) -> bool:
    """Whether the model reads the leading particles as a cloud (its shape: config train.particle_cloud)."""
    return model in MODELS and MODELS[model][1] in PARTICLE_CLOUDS


def undoes_particle_scaling(model: str) -> bool:
    """Whether the model computes features of the unscaled particles (the particle transformer's pair
    features), so that it needs the rows' global scaling (the feature directory's particle-scaling file)."""
    return model in MODELS and MODELS[model][1] == "pairattention"


def reads_every_row(model: str) -> bool:
    """Whether the model reads the particle rows by position (the Transformer flattens all 801 of them), so
    that its batches hold the full, dense sequences: no length-bucketed, shortened ones."""
    return model in MODELS and MODELS[model][1] == "attention"


def inputs_of(model: str) -> tuple[str, ...]:
    return ("HLF_input",) if model in TREE_MODELS else MODELS[model][0]


def keras_parameters(model: str) -> int:
    return MODELS[model][2]


def model_setting(value, model: str):
    """A training setting that is one value for every network or a mapping with one per network
    (train.batch_size, train.learning_rate): ``model``'s."""
    return value[model] if isinstance(value, dict) else value
