"""Training throughput of each classifier x engine with 1 and 2 workers, side by side in one run.

Trains on a synthetic feature set shaped as feature preparation writes it, on local[2] with one thread
per worker, three epochs, and prints samples/s over epochs 2-3 (the first one warms up: tracing,
caches), per core, and the 2-worker / 1-worker ratio. Particle rows: ``--rows dense`` (default) makes
all 801 rows non-zero, as the original's per-event standardisation of the padding did, so the GRU reads
every row (the original's work per event); ``--rows workflow`` keeps 5-332 real rows and zero padding, as the default workflow's
features (generated samples: mean 112 real rows, 266 at most in a batch of 128), so the masked GRU
stops after each batch's longest event.
Targets: inclusive classifier >= 200 samples/s per core on CPU (the original: ~9/core for TF on one
node, ~16/core for BigDL); 2 workers >= 1.7x one worker on a 2-core machine.

    tests/loopback.sh .venv/bin/python bench/bench_train.py [--events 1024] [--models hlf particle inclusive]
    [--engines torch keras] [--rows dense|workflow] [--device cuda --workers 1]   # the last on a GPU machine
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile


sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
from test_train import SETTINGS, write_features  # noqa: E402  (the tests' feature writer)

from dltrigger.files import write_parquet  # noqa: E402
from dltrigger.ingest import arrow_lists, numpy_of_lists  # noqa: E402
from dltrigger.train import run_training  # noqa: E402



def densify(directory: str) -> None:
    """Padding rows made non-zero, as after per-event standardisation."""
    import pyarrow.parquet as pq

    for name in os.listdir(directory):
        path = os.path.join(directory, name)
        table = pq.read_table(path)
        gru = numpy_of_lists(table.column("GRU_input")).copy()
        gru[gru == 0] = -0.1
        table = table.set_column(table.schema.get_field_index("GRU_input"), "GRU_input", arrow_lists(gru, *gru.shape[1:]))
        write_parquet(table, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1024, help="training events (default 1024)")
    parser.add_argument("--models", nargs="+", default=["hlf", "particle", "inclusive"])
    parser.add_argument("--engines", nargs="+", default=["torch", "keras"])
    parser.add_argument("--workers", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--rows", choices=("dense", "workflow"), default="dense", help="particle rows per event (see above)")
    args = parser.parse_args()
    spark = {"master": f"local[{max(args.workers)},1]", "driver_memory": "2g", "executor_memory": "2g", "shuffle_partitions": 2, "event_log": False, "conf": {}}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        write_features(f"{tmp}/train", args.events, seed=1, parts=4, max_particles=333)
        write_features(f"{tmp}/test", max(args.events // 8, 16), seed=2, parts=2, max_particles=333)
        if args.rows == "dense":
            for directory in (f"{tmp}/train", f"{tmp}/test"):
                densify(directory)
        for engine in args.engines:
            for model in args.models:
                rates = {}
                for workers in args.workers:
                    settings = {**SETTINGS, "engine": engine, "workers": workers, "device": args.device, "batch_size": args.batch_size, "epochs": {model: 3}, "timeout_minutes": 60}
                    history = run_training(model, f"{tmp}/train", f"{tmp}/test", f"{tmp}/out-{engine}-{model}-{workers}", settings, spark, max(args.workers), seed=1)
                    warm = history[1:]
                    rates[workers] = sum(row["train_events"] for row in warm) / sum(row["wall_seconds"] for row in warm)
                    rows.append((engine, model, workers, rates[workers], rates[workers] / workers if args.device == "cpu" else float("nan")))
                if len(rates) > 1:
                    rows.append((engine, model, "ratio", rates[max(rates)] / rates[min(rates)], float("nan")))
    print(f"{args.events} training events ({args.rows} particle rows), per-worker batch {args.batch_size}, device {args.device}")
    print(f"{'engine':8s} {'model':16s} {'workers':>7s} {'samples/s':>10s} {'per core':>9s}")
    for engine, model, workers, rate, per_core in rows:
        if workers == "ratio":
            print(f"{engine:8s} {model:16s} {'2 vs 1':>7s} {rate:9.2f}x")
        else:
            print(f"{engine:8s} {model:16s} {workers:>7} {rate:10.0f} {per_core:9.0f}")
    print("targets: inclusive >= 200 samples/s per core on CPU (original: TF ~9/core, BigDL ~16/core); 2 workers >= 1.7x one")


if __name__ == "__main__":
    main()
