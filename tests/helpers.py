"""What several test modules and the benchmarks share: Spark and training settings for the tests, and
a writer of feature directories shaped as feature preparation writes them."""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa

from dltrigger.arrays import arrow_lists, dense_sequences, ragged_lists, take_ragged
from dltrigger.files import write_parquet
from dltrigger.ingest import N_ROWS
from dltrigger.models import MODELS

SPARK = {"master": "local[2,2]", "driver_memory": "2g", "executor_memory": "1g", "shuffle_partitions": 2, "event_log": False, "conf": {}}
SETTINGS = {
    "engine": "torch", "models": list(MODELS), "workers": 2, "threads_per_worker": 1,
    "epochs": {name: 2 for name in MODELS}, "batch_size": 32, "learning_rate": 0.003,
    "multiworker_lr_recipe": False, "length_buckets": True, "device": "cpu", "timeout_minutes": 10, "restarts": 1,
    "bigdl": {"python": None, "environment": ".venvs/bigdl", "master": None, "memory": "6g"},
}  # fmt: skip


def write_features(directory, events: int, seed: int, classes=(0, 1, 2), n_hlf: int = 14, parts: int = 2, max_particles: int = 40,
                   padding: float = 0.0, layout: str = "workflow", lengths=None) -> None:  # fmt: skip
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
            table = pa.table({
                "HLF_input": arrow_lists(hlf[rows], n_hlf), "GRU_input": ragged_lists(ragged, counts),
                "padding_row": arrow_lists(padding_row, 19), "padding_at": pa.array(counts, pa.int32()),
                "n_particles": pa.array(counts, pa.int32()), "label": pa.array(label[rows], pa.int32()),
                "encoded_label": arrow_lists(onehot, 3), "source_file": pa.array([f"synthetic-{seed}.root"] * rows.size),
                "entry": pa.array(rows, pa.int64()), "event_number": pa.array(rows, pa.int64()),
            })  # fmt: skip
        else:
            dense = dense_sequences(ragged, counts, padding_row, counts, N_ROWS).astype(np.float64)
            shape = (N_ROWS * 19,) if layout == "original" else (N_ROWS, 19)
            table = pa.table({
                "HLF_input": arrow_lists(hlf[rows].astype(np.float64), n_hlf, type=pa.float64()),
                "GRU_input": arrow_lists(dense, *shape, type=pa.float64()),
                "encoded_label": arrow_lists(onehot.astype(np.float64), 3, type=pa.float64()),
            })  # fmt: skip
        write_parquet(table, os.path.join(directory, f"part-{part:05d}.parquet"))
