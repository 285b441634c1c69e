"""The model registry: the single source of the models' names and properties. The config schema's
model names, the engines' builders and the rules follow it (tests/test_config.py checks)."""

from __future__ import annotations

from dataclasses import dataclass

# The training engines and the file each writes its trained model to (named after the engine, so that a
# rule with an {engine} wildcard can declare it).
MODEL_FILES = {engine: f"model.{engine}" for engine in ("torch", "keras", "bigdl")}
ENGINES = tuple(MODEL_FILES)
# The branches that read the leading particles as a cloud (its shape: config train.particle_cloud).
PARTICLE_CLOUDS = ("edgeconv", "pairattention")


@dataclass(frozen=True)
class Model:
    """A classifier of the study and what the workflow needs to know of it: the config schema's model
    names, the engines' builders and the rules all follow this registry (tests/test_config.py checks)."""

    name: str
    inputs: tuple[str, ...]  # the feature columns it reads, in the order its forward takes them
    branch: str | None  # what reads the particle rows: gru, lstm, attention, edgeconv, pairattention
    engines: tuple[str, ...]  # the training engines that have it
    keras_parameters: int | None = None  # trainable parameters as Keras counts them
    tree: bool = False  # a tree baseline on the HLF, trained by Spark ML whatever the engine

    @property
    def reads_particle_cloud(self) -> bool:
        return self.branch in PARTICLE_CLOUDS

    @property
    def undoes_particle_scaling(self) -> bool:
        """The particle transformer computes its pair features from the unscaled momenta, so it needs the
        rows' global scaling (features.particle_scaling: global)."""
        return self.branch == "pairattention"

    @property
    def reads_every_row(self) -> bool:
        """The Transformer flattens all 801 rows: its batches hold the full, dense sequences."""
        return self.branch == "attention"


HLF_ONLY, PARTICLES_ONLY, BOTH = ("HLF_input",), ("GRU_input",), ("GRU_input", "HLF_input")
REGISTRY = {
    model.name: model
    for model in (
        Model("hlf", HLF_ONLY, None, ENGINES, 2013),
        Model("particle", PARTICLES_ONLY, "gru", ENGINES, 10803),
        Model("inclusive", BOTH, "gru", ENGINES, 12353),
        Model("inclusive_lstm", BOTH, "lstm", ENGINES, 15703),
        # The original's Transformer variant: self-attention over all 801 rows in place of the GRU branch;
        # BigDL's Keras API has no multi-head attention.
        Model("inclusive_transformer", BOTH, "attention", ("torch", "keras"), 173378),
        # Beyond the original: a permutation-invariant particle cloud (EdgeConv, as ParticleNet) in place
        # of the GRU branch. Its count is ours (no Keras original): stated, not matched.
        Model("inclusive_pcloud", BOTH, "edgeconv", ("torch",), 17221),
        # The other particle-cloud design, measured against it: a ParT-style transformer (attention over
        # the same leading particles, biased by their pairs' interaction features); its count ours.
        Model("inclusive_part", BOTH, "pairattention", ("torch",), 20321),
        # The original's tree baselines on the 14 HLF (Spark ML random forest, XGBoost on Spark).
        Model("rf", HLF_ONLY, None, ENGINES, tree=True),
        Model("xgboost", HLF_ONLY, None, ENGINES, tree=True),
    )
}
# The networks (trained by the configured engine) and the tree baselines, by name.
MODELS = {name: model for name, model in REGISTRY.items() if not model.tree}
TREE_MODELS = tuple(name for name, model in REGISTRY.items() if model.tree)


def model_setting(value, model: str):
    """A training setting that is one value for every network or a mapping with one per network
    (train.batch_size, train.learning_rate): ``model``'s."""
    return value[model] if isinstance(value, dict) else value


def member_histories(history: list[dict]) -> list[list[dict]]:
    """A training's history (history.json) split by ensemble member; a single training's records have
    no ``member`` key: one."""
    members = sorted({record.get("member", 0) for record in history})
    return [[record for record in history if record.get("member", 0) == member] for member in members]
