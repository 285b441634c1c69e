"""Fit time of the tree baselines (Spark ML random forest, XGBoost on Spark) per 100,000 training events.

Fits each model ``--repeats`` times on a synthetic feature set in the workflow's layout (the tests' writer:
14 HLF shifted by class), on local[2] with the configured settings (default: the original's, 100 trees
of depth 10; XGBoost's 100 rounds of depth 6), and prints the fit time (the estimator's ``fit``, not
the Spark start or the scoring) as mean +- standard deviation over the repeats, scaled to 100,000
events, beside the throughput per core. The original gives no fit time for its trees to compare with.

    tests/loopback.sh .venv/bin/python bench/bench_trees.py [--events 100000] [--repeats 3] [--models rf xgboost]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
from dltrigger.train.trees import run_tree_training  # noqa: E402

from helpers import SETTINGS, SPARK, write_features  # noqa: E402  (the tests' feature writer)

CORES = 2
ORIGINAL_SETTINGS = {"rf": {"trees": 100, "max_depth": 10}, "xgboost": {"rounds": 100, "max_depth": 6, "learning_rate": 0.3}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000, help="training events (default 100,000)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--models", nargs="+", default=["rf", "xgboost"])
    args = parser.parse_args()
    settings = {**SETTINGS, "workers": CORES, "trees": ORIGINAL_SETTINGS}
    with tempfile.TemporaryDirectory() as directory:
        train, validation, test = (os.path.join(directory, split) for split in ("train", "validation", "test"))
        write_features(train, args.events, seed=1, parts=4, max_particles=6)
        write_features(validation, max(args.events // 10, 100), seed=3, parts=1, max_particles=6)
        write_features(test, max(args.events // 4, 100), seed=2, parts=1, max_particles=6)
        print(f"{'model':>8} {'events':>8} {'fit s per 100k events':>24} {'events/s/core':>14}")
        for model in args.models:
            seconds = []
            for repeat in range(args.repeats):
                output = os.path.join(directory, f"{model}-{repeat}")
                run_tree_training(model, train, validation, test, output, settings, SPARK, threads=CORES, seed=11)
                with open(os.path.join(output, "history.json")) as handle:
                    history = json.load(handle)
                seconds.append(sum(row["wall_seconds"] for row in history))
            per_100k = np.array(seconds) * 100_000 / args.events
            rate = args.events / np.array(seconds) / CORES
            print(
                f"{model:>8} {args.events:>8} {per_100k.mean():>16.1f} +- {per_100k.std(ddof=1) if len(seconds) > 1 else 0:<5.1f} {rate.mean():>14.0f}"
            )


if __name__ == "__main__":
    main()
