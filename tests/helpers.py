"""What several test modules and the benchmarks share: Spark and training settings, writers of Delphes
files and feature directories shaped as the stages write them, a Spark ingestion, and the workflow
run in a test's own folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import awkward as ak
import numpy as np
import pyarrow as pa
import uproot

from dltrigger.core.arrays import arrow_lists, dense_sequences, ragged_lists, take_ragged
from dltrigger.core.files import write_parquet
from dltrigger.core.registry import MODELS
from dltrigger.core.schema import N_ROWS
from dltrigger.ingest import run_ingest
from dltrigger.physics.delphes import SCHEMA, write_delphes
from dltrigger.physics.preprocess import Preprocessing
from dltrigger.physics.quirks import CORRECTED

from conftest import REPO

# Spark for the training tests, and for the stage tests (more shuffle partitions than tasks: a real shuffle).
SPARK = {"master": "local[2,2]", "driver_memory": "2g", "executor_memory": "1g", "shuffle_partitions": 2, "event_log": False, "conf": {}}
STAGE_SPARK = dict(SPARK, shuffle_partitions=4)
SETTINGS = {
    "engine": "torch",
    "models": list(MODELS),
    "workers": 2,
    "threads_per_worker": 1,
    "epochs": {name: 2 for name in MODELS},
    "batch_size": 32,
    "learning_rate": 0.003,
    "learning_rate_schedule": "constant",
    "length_buckets": True,
    "early_stopping": {"patience": 0},
    "ensemble": 1,
    "device": "cpu",
    "timeout_minutes": 10,
    "restarts": 1,
    "bigdl": {"python": None, "environment": str(REPO / ".venvs" / "bigdl"), "master": None, "memory": "6g"},
    "keras": {"environment": str(REPO / ".venvs" / "keras")},
    "particle_cloud": {"particles": 128, "neighbours": 16},
    "trees": {"rf": {"trees": 20, "max_depth": 5}, "xgboost": {"rounds": 10, "max_depth": 3, "learning_rate": 0.3}},
}


def write_features(
    directory,
    events: int,
    seed: int,
    classes=(0, 1, 2),
    n_hlf: int = 14,
    parts: int = 2,
    max_particles: int = 40,
    padding: float = 0.0,
    layout: str = "workflow",
    lengths=None,
) -> None:
    """A feature directory like feature preparation writes: HLF and particle rows shifted by class,
    5 to ``max_particles`` - 1 real particle rows per event, padding rows of value ``padding`` (0: as
    global scaling leaves them; not 0: as per-event standardisation makes them). ``layout``: the
    workflow's (ragged rows) or the original study's published schema (``original``: HLF_input,
    GRU_input flattened to 801 x 19 doubles, encoded_label; ``original_nested``: GRU_input as 801 lists).
    ``lengths``: the real rows of each event, instead of drawn ones."""
    rng = np.random.default_rng(seed)
    label = rng.choice(classes, size=events)
    hlf = (rng.normal(size=(events, n_hlf)) + 0.8 * label[:, None]).astype(np.float32)
    n_particles = rng.integers(5, max_particles, size=events) if lengths is None else np.asarray(lengths)
    particles = (rng.normal(size=(int(n_particles.sum()), 19)) + 0.5 * np.repeat(label, n_particles)[:, None]).astype(np.float32)
    os.makedirs(directory)
    for part, rows in enumerate(np.array_split(np.arange(events), parts)):
        ragged, counts = take_ragged(particles, n_particles, rows)
        padding_row = np.full((rows.size, 19), padding, dtype=np.float32)
        onehot = np.eye(3, dtype=np.float32)[label[rows]]
        if layout == "workflow":
            table = pa.table(
                {
                    "HLF_input": arrow_lists(hlf[rows], n_hlf),
                    "GRU_input": ragged_lists(ragged, counts),
                    "padding_row": arrow_lists(padding_row, 19),
                    "padding_at": pa.array(counts, pa.int32()),
                    "n_particles": pa.array(counts, pa.int32()),
                    "label": pa.array(label[rows], pa.int32()),
                    "encoded_label": arrow_lists(onehot, 3),
                    "source_file": pa.array([f"synthetic-{seed}.root"] * rows.size),
                    "entry": pa.array(rows, pa.int64()),
                    "event_number": pa.array(rows, pa.int64()),
                }
            )
        else:
            dense = dense_sequences(ragged, counts, padding_row, counts, N_ROWS).astype(np.float64)
            shape = (N_ROWS * 19,) if layout == "original" else (N_ROWS, 19)
            table = pa.table(
                {
                    "HLF_input": arrow_lists(hlf[rows].astype(np.float64), n_hlf, type=pa.float64()),
                    "GRU_input": arrow_lists(dense, *shape, type=pa.float64()),
                    "encoded_label": arrow_lists(onehot.astype(np.float64), 3, type=pa.float64()),
                }
            )
        write_parquet(table, os.path.join(directory, f"part-{part:05d}.parquet"))


def write_preprocessing(path, particle_scaling: str = "global", padding: str = "after") -> str:
    """A preprocessing.json as feature preparation writes it, for tables like write_features's: global
    scaling as the identity (zero padding rows), or per-event scaling."""
    moments = {"particle_mean": (0.0,) * 19, "particle_std": (1.0,) * 19} if particle_scaling == "global" else {}
    Preprocessing(CORRECTED, particle_scaling, padding, "none", **moments).write(path)
    return str(path)


def delphes_file(path, events):
    """Write events given as {collection: [tuples in SCHEMA field order]} as a Delphes-layout ROOT file."""
    collections = {}
    for name, fields in SCHEMA.items():
        rows = [[dict(zip(fields, values)) for values in event.get(name, [])] for event in events]
        if name == "Event":
            rows = [[{"Number": i, "Weight": 1.0}] for i in range(len(events))]
        collections[name] = ak.Array(rows) if any(rows) else ak.zip({f: ak.Array([[]] * len(events)) for f in fields})
    write_delphes(path, collections)
    return str(path)


NAN = float("nan")
TRACK = "EFlowTrack"  # (PID, Charge, PT, Eta, Phi, X, Y, Z)
# Five events with known answers for the selection and the features (see tests/test_ingest.py).
HAND_BUILT = [
    {  # A: isolated electron (50 GeV) and isolated muon (30 GeV, larger eta)
        "Electron": [(50.0, 0.5, 1.0, -1)],
        "MuonTight": [(30.0, 1.5, -1.0, 1)],
        TRACK: [
            (11, -1, 48.0, 0.5, 1.0, 0.01, 0.02, 5.0),  # the electron's own track
            (-13, 1, 30.0, 1.5, -1.0, 0.0, 0.0, 5.0),  # the muon's own track
            (211, 1, 5.0, 0.6, 1.1, 0.0, 0.0, 5.5),  # near the electron: dR = 0.141
            (-211, -1, 20.0, -1.0, 3.0, 0.0, 0.0, 4.0),  # far from both leptons
            (321, 1, 2.0, -1.0, -3.1, 0.0, 0.0, 4.0),  # across phi = +-pi from the far track
        ],
        "EFlowPhoton": [(2.0, 0.45, 0.95, 2.2), (3.0, -1.0, 3.1, 4.6)],
        "EFlowNeutralHadron": [(4.0, 0.5, 1.2, 4.5), (6.0, 2.0, -2.0, 22.6)],
        "Jet": [(100.0, 0.5, 1.0, 10.0, 1), (40.0, 2.0, -2.0, 5.0, 0), (35.0, 2.7, 0.0, 5.0, 1), (25.0, 0.0, 2.0, 3.0, 1)],
        "MissingET": [(40.0, -2.0)],
    },
    {  # B: a 30 GeV muon next to a 20 GeV track: not isolated
        "MuonTight": [(30.0, 0.0, 0.0, -1)],
        TRACK: [(13, -1, 30.0, 0.0, 0.0, 0, 0, 0), (211, 1, 20.0, 0.1, 0.0, 0, 0, 0)],
        "EFlowPhoton": [(2.0, 1.0, 1.0, 3.1)],
        "EFlowNeutralHadron": [(2.0, 1.0, 1.0, 3.1)],
        "MissingET": [(10.0, 0.0)],
    },
    {  # C: an electron below 23 GeV
        "Electron": [(20.0, 0.0, 0.0, 1)],
        TRACK: [(-11, 1, 20.0, 0.0, 0.0, 0, 0, 0)],
        "EFlowPhoton": [(2.0, 1.0, 1.0, 3.1)],
        "EFlowNeutralHadron": [(2.0, 1.0, 1.0, 3.1)],
        "MissingET": [(10.0, 0.0)],
    },
    {  # D: a broken MET value
        "Electron": [(40.0, 0.0, 0.0, 1)],
        TRACK: [(-11, 1, 40.0, 0.0, 0.0, 0, 0, 0)],
        "EFlowPhoton": [(2.0, 1.0, 1.0, 3.1)],
        "EFlowNeutralHadron": [(2.0, 1.0, 1.0, 3.1)],
        "MissingET": [(NAN, 0.0)],
    },
    {  # E: an isolated electron in an event without neutral hadrons (the original dropped such events)
        "Electron": [(40.0, -0.5, 2.0, 1)],
        TRACK: [(-11, 1, 40.0, -0.5, 2.0, 0, 0, 0)],
        "EFlowPhoton": [(2.0, 1.0, 1.0, 3.1)],
        "MissingET": [(30.0, 0.0)],
    },
]


def write_tree(path, branches: dict, name="Delphes"):
    with uproot.recreate(path) as file:
        file.mktree(name, {key: value.dtype for key, value in branches.items()})
        file[name].extend(branches)
    return str(path)


def assert_compiled_once_per_machine(setup: str, kernels: str, cache) -> None:
    """Run ``setup`` (Python) in two fresh processes sharing numba's cache ``cache``: in the first every
    dispatcher of ``kernels`` compiles and writes the cache, in the second it loads it, compiling nothing."""
    import json

    probe = f"import json; {setup}; print(json.dumps([[sum(k.stats.cache_hits.values()), sum(k.stats.cache_misses.values())] for k in {kernels}]))"
    environment = {**os.environ, "NUMBA_CACHE_DIR": str(cache)}
    runs = [
        json.loads(subprocess.run([sys.executable, "-c", probe], env=environment, capture_output=True, text=True, check=True).stdout)
        for _ in range(2)
    ]
    assert all(misses >= 1 and hits == 0 for hits, misses in runs[0])  # compiled, written to the cache
    assert all(hits >= 1 and misses == 0 for hits, misses in runs[1])  # loaded: nothing compiled
    assert any(Path(cache).rglob("*.nbi"))


def ingest(samples, directory, spark=STAGE_SPARK, quirks=CORRECTED, remote=None):
    directory.mkdir(parents=True, exist_ok=True)
    events, cutflow = directory / "events.parquet", directory / "cutflow.tsv"
    run_ingest(samples, str(events), str(cutflow), spark, 2, quirks, events_per_task=100, remote=remote)
    return events, cutflow


# The workflow, run for real: a copy of its files in a test's folder, and the snakemake command.
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")
WORKFLOW_PARTS = ("Snakefile", "rules", "scripts", "config", "profiles", "envs", "report")


def snakemake(workdir, *args, check=True, env=None, timeout=900):
    result = subprocess.run([SNAKEMAKE, *args], cwd=workdir, capture_output=True, text=True, timeout=timeout, env=env)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


def copy_workflow(tmp_path) -> Path:
    for part in WORKFLOW_PARTS:
        source = REPO / part
        (shutil.copytree if source.is_dir() else shutil.copy)(source, tmp_path / part)
    return tmp_path
