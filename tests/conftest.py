"""Shared fixtures: the default config, and small real samples generated once per test session."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from dltrigger.config import load_config
from dltrigger.environments import activate_layer, is_built
from dltrigger.generate.chunk import generate_chunk

REPO = Path(__file__).resolve().parents[1]
# The keras engine's package layer, which `make test` builds (envs/setup.sh --test): the tests that build
# keras models in this process import TensorFlow from it.
KERAS_LAYER = REPO / ".venvs" / "keras"
if is_built(str(KERAS_LAYER), str(REPO / "envs" / "keras.lock")):
    activate_layer(str(KERAS_LAYER))
# Enough events for physics sanity checks, few enough for seconds of CPU per process.
SANITY_EVENTS = {"ttbar": 400, "wjets": 400, "qcd": 300}


@pytest.fixture(scope="session")
def default_config() -> dict:
    return load_config(REPO / "config" / "config.yaml")


@pytest.fixture
def config(default_config) -> dict:
    """A private copy of the default config that a test may change."""
    return copy.deepcopy(default_config)


def make_chunk(config: dict, process: str, events: int, directory: Path, chunk: int = 0, sample: str | None = None, pileup_pool=None):
    """Generate one chunk with the config's settings for ``process`` and ``events`` Pythia events (and the
    pileup of ``pileup_pool`` where the config has pileup)."""
    config = copy.deepcopy(config)
    config["generate"]["processes"][process]["events_per_chunk"] = events
    sample = sample or process
    root = directory / f"{sample}_{chunk:03d}.root"
    meta = generate_chunk(
        sample=sample,
        label=process,
        process=process,
        chunk=chunk,
        config=config,
        root_path=root,
        metadata_path=directory / f"{sample}_{chunk:03d}.json",
        pileup_pool=pileup_pool,
    )
    return root, meta


@pytest.fixture(scope="session")
def sanity_samples(default_config, tmp_path_factory) -> dict:
    """A few hundred events per process, generated with the default settings: {process: (root, metadata)}."""
    directory = tmp_path_factory.mktemp("sanity")
    return {process: make_chunk(default_config, process, events, directory) for process, events in SANITY_EVENTS.items()}
