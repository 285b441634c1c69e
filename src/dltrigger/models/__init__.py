"""The original study's classifiers, defined once per training engine (``torch_models``,
``keras_models``, ``bigdl_models``) from the same shapes; which models exist, what they read and which
engines have them is the registry's (``core.registry``)."""

from __future__ import annotations

N_CLASSES = 3
RNN_UNITS = 50
DROPOUT = 0.2

# The widths of the particle cloud's two EdgeConv blocks (how many particles it reads and how many
# neighbours each has come from config: train.particle_cloud).
CLOUD_WIDTHS = (32, 64)
# The ParT-style cloud: particle embedding width, attention heads, blocks, hidden width of their MLPs;
# the interaction features of a pair (ln Δ, ln k_T, ln z, ln m²) and the hidden width of the MLP that
# turns them into each head's attention bias.
PAIR_WIDTH, PAIR_HEADS, PAIR_BLOCKS, PAIR_HIDDEN = 32, 4, 2, 64
PAIR_FEATURES, PAIR_EMBEDDING = 4, 16
# The Transformer branch: 8 heads of key size 19, then a Dense(20) per row, flattened, to Dense(10).
ATTENTION_HEADS, ATTENTION_KEY_DIM, ROW_UNITS, ATTENTION_UNITS = 8, 19, 20, 10
