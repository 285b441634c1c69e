"""Shared fixtures: the default config, and small real samples generated once per test session."""

from __future__ import annotations

import collections
import copy
from pathlib import Path

import pytest

from dltrigger.core.config import load_config
from dltrigger.generate.chunk import generate_chunk
from dltrigger.tools.environments import activate_layer, is_built

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


# The reliability table of docs/reliability.md, counted from the suite: every test case marked
# reliability(category) is one case of its category (`pytest --collect-only -q --reliability-table`).
RELIABILITY = {
    "bad input": "nothing: one line naming the file or key, no partial output, raw inputs unchanged",
    "fault injected": "nothing: the same output as without the fault, or the fault refused in one line",
    "kill point": "nothing: the restarted run completes with the same output, nothing twice",
    "rejected combination": "nothing: stopped in one line before the first job",
}
TABLE_START, TABLE_END = "<!-- reliability table: counted by the suite -->", "<!-- end of reliability table -->"


def pytest_addoption(parser):
    parser.addoption("--reliability-table", action="store_true", help="print docs/reliability.md's table, counted from the collected tests")


def reliability_table(items) -> str:
    cases = {category: {} for category in RELIABILITY}
    fast = dict.fromkeys(RELIABILITY, 0)
    for item in items:
        for mark in item.iter_markers("reliability"):
            test = f"`{item.path.name}::{item.originalname}`"
            cases[mark.args[0]][test] = cases[mark.args[0]].get(test, 0) + 1
            fast[mark.args[0]] += item.get_closest_marker("slow") is None
    lines = [TABLE_START, "| category | cases | in `make test` | lost | tests (cases) |", "|---|---|---|---|---|"]
    for category, lost in RELIABILITY.items():
        tests = ", ".join(f"{test} ({count})" for test, count in cases[category].items())
        lines.append(f"| {category} | {sum(cases[category].values())} | {fast[category]} | {lost} | {tests} |")
    return "\n".join([*lines, TABLE_END])


def pytest_collection_finish(session):
    if session.config.getoption("--reliability-table"):
        print("\n" + reliability_table(session.items))


def pytest_terminal_summary(terminalreporter):
    """One line with the reasons of every skipped test, so that a skip (no xrootd, no Python 3.10) is seen."""
    skipped = terminalreporter.stats.get("skipped", [])
    if skipped:
        reasons = collections.Counter(report.longrepr[2].removeprefix("Skipped: ") for report in skipped if isinstance(report.longrepr, tuple))
        terminalreporter.write_line(f"skipped {len(skipped)}: " + "; ".join(f"{count} x {reason}" for reason, count in reasons.items()))
