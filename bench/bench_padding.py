"""Which particle scaling and padding position trains the particle GRU best, on the same events.

Prepares the features of one ingestion output once per variant (``features.particle_scaling`` x
``features.padding``), trains the same model with the same seed and epochs on each, and prints the
training time, test accuracy and the AUC of each selector with its 68 % interval (paired bootstrap over
the test events). With per-event scaling no row is zero, so the GRU reads all 801 rows: padding
``after`` makes its final state travel through ~690 constant rows, ``before`` puts them first, and
``by_distance`` interleaves them as the original did. Global scaling keeps padding at zero: masked.

    tests/loopback.sh .venv/bin/python bench/bench_padding.py --events results/ingest/events.parquet
    [--model particle] [--epochs 10] [--variants per_event:after per_event:before per_event:by_distance global:after]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
from helpers import SETTINGS  # noqa: E402  (the tests' training settings)

from dltrigger.evaluate import CLASSES, run_uncertainties, with_error  # noqa: E402
from dltrigger.features import run_features  # noqa: E402
from dltrigger.train import run_training  # noqa: E402

SPARK = {"master": "local[2,2]", "driver_memory": "4g", "executor_memory": "2g", "shuffle_partitions": 4, "event_log": False, "conf": {}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", default="results/ingest/events.parquet", help="an ingestion output")
    parser.add_argument("--model", default="particle")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=20190522)
    parser.add_argument("--variants", nargs="+", default=["per_event:after", "per_event:before", "per_event:by_distance", "global:after"])
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        rates = f"{tmp}/rates.json"
        with open(rates, "w") as handle:
            json.dump({"rate_hz": dict.fromkeys(CLASSES)}, handle)
        for variant in args.variants:
            scaling, padding = variant.split(":")
            out = f"{tmp}/{scaling}-{padding}"
            counts = run_features(args.events, f"{out}/train", f"{out}/test", f"{out}/counts.json", SPARK, 2, args.seed, False, scaling, 0.2, padding)
            settings = {**SETTINGS, "epochs": {args.model: args.epochs}, "batch_size": args.batch_size, "learning_rate": 0.001, "timeout_minutes": 240}
            began = time.time()
            history = run_training(args.model, f"{out}/train", f"{out}/test", f"{out}/model", settings, SPARK, 2, seed=args.seed)
            wall = time.time() - began
            result = run_uncertainties({args.model: f"{out}/model/predictions.parquet"}, rates, f"{out}/uncertainties.json", 1000, args.seed)
            aucs = [result["models"][args.model][name]["auc"] for name in CLASSES]
            rows.append((variant, sum(counts["train"].values()), wall, history[-1]["val_accuracy"], [with_error(a["value"], a["error"]) for a in aucs]))
            print(rows[-1], flush=True)
    print(f"model {args.model}, {args.epochs} epochs, batch {args.batch_size} x 2 workers, seed {args.seed}")
    print(f"{'scaling:padding':24s} {'train':>6s} {'wall s':>7s} {'accuracy':>8s}  AUC " + " / ".join(CLASSES))
    for variant, train, wall, accuracy, aucs in rows:
        print(f"{variant:24s} {train:6d} {wall:7.0f} {accuracy:8.3f}  {' / '.join(aucs)}")


if __name__ == "__main__":
    main()
