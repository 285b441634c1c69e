"""Training throughput and the fixed cost of a training job: first with the workflow's own settings, then
each classifier x engine x particle layout with 1 and 2 workers, side by side.

First (always): every network of ``--config``'s ``train.models`` trained as the workflow trains it (its
per-worker batch, learning rate, length buckets, workers and threads) on synthetic events with the
real-row counts of the workflow's events, for ``--epochs`` epochs; per model the samples/s per core over
the epochs after the first, and where the job's time goes: the Spark session, the epochs, the rest of
the distributed launch (TorchDistributor and torchrun starting the processes, validation, scoring the
test events, the processes' exit) and writing the outputs.

Then (``--grid``): the throughput grid on synthetic feature sets in the workflow's layout, on local[2] with
one thread per worker, for ``--epochs`` epochs: samples/s over the epochs after the first (it warms up:
tracing, caches) as mean +- standard deviation over those epochs, per core, and the 2-worker / 1-worker
ratio. Particle rows (``--rows``, several may be given):

* ``workflow``: zero padding, as global scaling leaves it, with the real-row counts of the workflow's
  events (drawn from ``--lengths``, the ingested events, when it exists; else 5-332 uniformly): the
  masked GRU stops after each batch's longest event; with ``--buckets on`` the batches are made of
  events of similar length (train.length_buckets).
* ``dense``: every one of the 801 rows non-zero, as the original's per-event standardisation made the
  padding: the GRU reads every row (the original's work per event).

Targets: particle and inclusive >= 2,000 samples/s per core on the workflow's rows with bucketing, and
>= 200 on dense rows (the original: ~9/core for TF on one node, ~16/core for BigDL); 2 workers >= 1.7x
one worker on a 2-core machine.

    tests/loopback.sh .venv/bin/python bench/bench_train.py [--events 4096] [--config config/config.yaml]
    [--grid --models particle inclusive --engines torch --rows workflow dense --buckets on off --batch-size 128]
    [--grid --device cuda --workers 1]   # the last on a GPU
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
from dltrigger.core.config import load_config  # noqa: E402
from dltrigger.core.registry import MODELS  # noqa: E402
from dltrigger.train import run_training  # noqa: E402

from helpers import SETTINGS, write_features  # noqa: E402  (the tests' feature writer)
from machine import cpu_model  # noqa: E402

SPARK = {"driver_memory": "2g", "executor_memory": "2g", "shuffle_partitions": 2, "event_log": False, "conf": {}}
# Log lines that mark the phases of a training job.
MILESTONES = {"session": "Spark application", "launched": "Started distributed training", "finished": "Finished distributed training"}


def lengths_of(path: str, events: int, seed: int) -> np.ndarray | None:
    """Real-row counts drawn from ingested events (None where there are none)."""
    import pyarrow.parquet as pq

    if not os.path.isdir(path):
        return None
    counts = pq.read_table(path, columns=["n_particles"]).column("n_particles").to_numpy()
    return np.random.default_rng(seed).choice(counts, size=events)


class Milestones(logging.Handler):
    """The time of the first log record containing each milestone's text."""

    def __init__(self):
        super().__init__()
        self.seen = {}

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        for name, text in MILESTONES.items():
            if text in message:
                self.seen.setdefault(name, record.created)


def timed_training(model: str, directories: tuple, output: str, settings: dict, spark: dict, threads: int) -> tuple[list[dict], dict]:
    """Train once; the history and the job's phases in seconds."""
    handler = Milestones()
    logging.getLogger().addHandler(handler)
    logging.getLogger().setLevel(logging.INFO)
    began = time.time()
    try:
        history = run_training(model, *directories, output, settings, spark, threads, seed=1)
    finally:
        logging.getLogger().removeHandler(handler)
    ended, seen = time.time(), handler.seen
    epochs = sum(row["wall_seconds"] for row in history)
    phases = {
        "job": ended - began,
        "session": seen["session"] - began,
        "epochs": epochs,
        "launch, validation, scoring, exit": seen["finished"] - seen["launched"] - epochs,
        "writing": ended - seen["finished"],
    }
    return history, phases


def workflow_settings(args, tmp: str) -> None:
    """The configured networks trained as the workflow trains them, and where their jobs' time goes."""
    config = load_config(args.config, *args.overlay)
    train = config["train"]
    lengths = lengths_of(args.lengths, args.events, 1)
    directories = []
    for split, events, seed in (("train", args.events, 1), ("validation", max(args.events // 9, 16), 3), ("test", max(args.events // 4, 16), 2)):
        path = f"{tmp}/workflow-settings/{split}"
        write_features(
            path, events, seed=seed, parts=4, max_particles=333, lengths=lengths_of(args.lengths, events, seed) if lengths is not None else None
        )
        directories.append(path)
    rows = f"real-row counts of {args.lengths} (mean {lengths.mean():.0f})" if lengths is not None else "5-332 real rows (no ingested events)"
    print(f"CPU: {cpu_model()}")
    print(
        f"the workflow's settings ({args.config}): per-worker batch {train['batch_size']}, learning rate {train['learning_rate']}, "
        f"length buckets {'on' if train['length_buckets'] else 'off'}, {train['workers']} workers x {train['threads_per_worker']} thread(s); "
        f"{args.events} training events with {rows}; {args.epochs} epochs"
    )
    spark = dict(SPARK, master=config["spark"]["master"])
    header = f"{'model':10s} {'samples/s/core':>15s} {'job s':>6s} {'session':>8s} {'epochs':>7s} {'launch, validation, scoring, exit':>34s} {'writing':>8s}"
    print(header)
    for model in (name for name in train["models"] if name in MODELS):
        settings = dict(train, epochs={model: args.epochs}, early_stopping={"patience": 0})
        history, phases = timed_training(model, tuple(directories), f"{tmp}/workflow-settings/out-{model}", settings, spark, train["workers"])
        rate = np.array([row["samples_per_second"] for row in history[1:]]) / train["workers"]
        print(
            f"{model:10s} {rate.mean():8.0f} +- {rate.std():4.0f} {phases['job']:6.1f} {phases['session']:8.1f} {phases['epochs']:7.1f} "
            f"{phases['launch, validation, scoring, exit']:34.1f} {phases['writing']:8.1f}",
            flush=True,
        )


def grid(args, tmp: str) -> None:
    spark = dict(SPARK, master=f"local[{max(args.workers)},1]")
    test_events = max(args.events // 8, 16)
    counts = {"train": lengths_of(args.lengths, args.events, 1), "test": lengths_of(args.lengths, test_events, 2)}
    rows = []
    for layout in args.rows:
        padding = 0.0 if layout == "workflow" else -0.1
        write_features(f"{tmp}/{layout}/train", args.events, seed=1, parts=4, max_particles=333, padding=padding, lengths=counts["train"])
        write_features(f"{tmp}/{layout}/test", test_events, seed=2, parts=2, max_particles=333, padding=padding, lengths=counts["test"])
    for engine in args.engines:
        for model in args.models:
            for layout in args.rows if model != "hlf" else args.rows[:1]:
                for buckets in args.buckets if layout == "workflow" and model != "hlf" else ["off"]:
                    rates = {}
                    for workers in args.workers:
                        settings = {
                            **SETTINGS,
                            "engine": engine,
                            "workers": workers,
                            "device": args.device,
                            "batch_size": args.batch_size,
                            "epochs": {model: args.epochs},
                            "timeout_minutes": 60,
                            "length_buckets": buckets == "on",
                        }
                        out = f"{tmp}/out-{engine}-{model}-{layout}-{buckets}-{workers}"
                        # A throughput measurement: the test events validate, every epoch runs.
                        directories = (f"{tmp}/{layout}/train", f"{tmp}/{layout}/test", f"{tmp}/{layout}/test")
                        history = run_training(model, *directories, out, settings, spark, max(args.workers), seed=1)
                        per_epoch = np.array([row["samples_per_second"] for row in history[1:]])
                        rates[workers] = per_epoch.mean()
                        per_core = 1 / workers if args.device == "cpu" else float("nan")
                        rows.append((engine, model, layout, buckets, workers, per_epoch.mean(), per_epoch.std(), per_core))
                    if len(rates) > 1:
                        rows.append((engine, model, layout, buckets, "ratio", rates[max(rates)] / rates[min(rates)], float("nan"), float("nan")))
    source = f"real-row counts of {args.lengths}" if counts["train"] is not None else "5-332 real rows"
    print(
        f"{args.events} training events ({source}), per-worker batch {args.batch_size}, device {args.device}, "
        f"samples/s over epochs 2-{args.epochs} (mean +- std)"
    )
    print(f"{'engine':7s} {'model':10s} {'rows':9s} {'buckets':7s} {'workers':>7s} {'samples/s':>16s} {'per core':>9s}")
    for engine, model, layout, buckets, workers, rate, spread, per_core in rows:
        if workers == "ratio":
            print(f"{engine:7s} {model:10s} {layout:9s} {buckets:7s} {'2 vs 1':>7s} {rate:15.2f}x")
        else:
            print(f"{engine:7s} {model:10s} {layout:9s} {buckets:7s} {workers:>7} {rate:9.0f} +- {spread:4.0f} {rate * per_core:9.0f}")
    print("targets: particle and inclusive >= 2,000 samples/s per core on workflow rows with buckets, >= 200 on dense rows; 2 workers >= 1.7x one")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="config/config.yaml", help="the workflow settings measured first")
    parser.add_argument("--overlay", nargs="*", default=[], help="config files on top of --config")
    parser.add_argument("--events", type=int, default=4096, help="training events (default 4096)")
    parser.add_argument("--epochs", type=int, default=4, help="epochs per run; the first is not timed (default 4)")
    parser.add_argument("--lengths", default="results/ingest/events.parquet", help="ingested events to draw real-row counts from")
    parser.add_argument("--grid", action="store_true", help="also the throughput grid below")
    parser.add_argument("--models", nargs="+", default=["hlf", "particle", "inclusive"])
    parser.add_argument("--engines", nargs="+", default=["torch"])
    parser.add_argument("--workers", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--rows", nargs="+", choices=("workflow", "dense"), default=["workflow", "dense"])
    parser.add_argument("--buckets", nargs="+", choices=("on", "off"), default=["on"], help="length buckets for workflow rows")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=128, help="per-worker batch of the grid")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workflow_settings(args, tmp)
        if args.grid:
            grid(args, tmp)


if __name__ == "__main__":
    main()
