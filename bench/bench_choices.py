"""Training choices measured on the same events: particle scaling, padding position, epochs, batch size,
learning rate and its schedule, each against the others with the same seed.

Prepares the features of one ingestion output once per distinct ``features.*`` setting, trains each
variant (the default training settings of config/config.yaml with the variant's changes), and prints
per model the training time, the test accuracy and the AUC of each selector with its 68 % interval
(paired bootstrap over the test events, shared by every variant that uses the same features). With
per-event scaling no row is zero, so the GRU reads all 801 rows: padding ``after`` makes its final
state travel through ~690 constant rows, ``before`` puts them first, and ``by_distance`` interleaves
them as the original did. Global scaling keeps padding at zero: masked.

With ``--seeds`` each variant is trained once per training seed (the features keep the configuration's
seed, so every seed sees the same training, validation and test events), and with several ``--models``
the differences between the models follow, per selector: each seed's paired-bootstrap difference, then
their mean and their spread over the seeds (what retraining alone moves a difference by, beside what the
test events' sampling moves it by). Variants of one model trained with the same seed on the same events
are compared the same way. With ``--validation-only`` (for a choice) nothing of the test events is
printed: per variant and seed the kept epoch, its validation loss and accuracy, and the job's time.

    tests/loopback.sh .venv/bin/python bench/bench_choices.py --events results/ingest/events.parquet --models particle \\
        --variants features.particle_scaling=per_event,features.padding=after features.particle_scaling=global \\
        "train.epochs.particle=10,train.learning_rate=0.0005"
    tests/loopback.sh .venv/bin/python bench/bench_choices.py --models particle inclusive --seeds 1 2 3 4
    tests/loopback.sh .venv/bin/python bench/bench_choices.py --config config/config.yaml config/paper-mini.yaml \\
        --models hlf particle inclusive --seeds 20190522 1 2
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import tempfile
import time

import numpy as np
import yaml

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
from dltrigger.core.config import load_config  # noqa: E402
from dltrigger.core.schema import CLASSES  # noqa: E402
from dltrigger.evaluate.tables import ordering_table, with_error  # noqa: E402
from dltrigger.evaluate.uncertainty import run_uncertainties  # noqa: E402
from dltrigger.features import run_features  # noqa: E402
from dltrigger.physics.preprocess import Preprocessing  # noqa: E402
from dltrigger.train import run_training  # noqa: E402

from helpers import SPARK  # noqa: E402  (the tests' Spark settings)


def apply(config: dict, changes: str) -> dict:
    """The config with ``section.key=value`` changes (comma-separated; values in YAML)."""
    config = copy.deepcopy(config)
    for change in filter(None, changes.split(",")):
        key, value = change.split("=", 1)
        *path, last = key.split(".")
        target = config
        for part in path:
            target = target[part]
        target[last] = yaml.safe_load(value)
    return config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", default="results/ingest/events.parquet", help="an ingestion output")
    parser.add_argument(
        "--config",
        nargs="+",
        default=["config/config.yaml"],
        help="the settings the variants change (later files on top, as Snakemake's --configfile)",
    )
    parser.add_argument("--models", nargs="+", default=["particle"])
    parser.add_argument("--variants", nargs="+", default=[""], help="comma-separated section.key=value changes per variant")
    parser.add_argument("--seeds", nargs="+", type=int, help="training seeds (default: the configuration's seed)")
    parser.add_argument("--validation-only", action="store_true", help="print what the validation events give, nothing of the test events")
    args = parser.parse_args()
    base = load_config(*args.config)
    spark = dict(SPARK, driver_memory="4g", executor_memory="2g")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        rates = f"{tmp}/rates.json"
        with open(rates, "w") as handle:
            json.dump({"rate_hz": dict.fromkeys(CLASSES)}, handle)
        prepared, trained, by_run = {}, {}, {}
        for index, variant in enumerate(args.variants):
            config = apply(base, variant)
            features = config["features"]
            key = json.dumps([features, config["seed"]], sort_keys=True)
            if key not in prepared:
                out = f"{tmp}/features-{len(prepared)}"
                files = {split: f"{out}/{split}" for split in ("train", "validation", "test")}
                files.update(counts=f"{out}/counts.json", preprocessing=f"{out}/preprocessing.json")
                counts = run_features(
                    args.events,
                    files,
                    spark,
                    2,
                    config["seed"],
                    Preprocessing.of_settings(features),
                    features["test_fraction"],
                    features["validation_fraction"],
                )
                prepared[key] = (out, sum(counts["train"].values()))
            out, _ = prepared[key]
            directories = (f"{out}/train", f"{out}/validation", f"{out}/test")
            name = variant or "(config)"
            for seed in args.seeds or [config["seed"]]:
                run = name + (f" seed {seed}" if args.seeds else "")
                for model in args.models:
                    began = time.time()
                    output = f"{tmp}/model-{index}-{seed}-{model}"
                    history = run_training(
                        model, *directories, output, config["train"], spark, 2, seed=seed, preprocessing_path=f"{out}/preprocessing.json"
                    )
                    with open(f"{output}/training_config.json") as handle:
                        kept = json.load(handle)["model_epoch"]
                    predictions = f"{output}/predictions.parquet"
                    trained.setdefault((key, model), []).append((run, seed, predictions, time.time() - began, history, kept))
                    by_run.setdefault(name, {}).setdefault(seed, {})[model] = predictions
        between_variants = []  # (model, later run, earlier run, selector, AUC difference)
        for (key, model), runs in trained.items():
            result = None  # the test events' bootstrap, left out for a choice
            if not args.validation_only:
                result = run_uncertainties({run: path for run, _, path, _, _, _ in runs}, rates, f"{tmp}/uncertainties.json", 1000, 1)
            for run, _, _, wall, history, kept in runs:
                aucs = [result["models"][run][name]["auc"] for name in CLASSES] if result else []
                rows.append(
                    (
                        model,
                        run,
                        prepared[key][1],
                        f"{kept}/{len(history)}",
                        wall,
                        history[kept - 1]["val_loss"],
                        history[kept - 1]["val_accuracy"],
                        [with_error(a["value"], a["error"]) for a in aucs],
                    )
                )
                print(rows[-1], flush=True)
            for index, (earlier, seed, *_) in enumerate(runs if result else []):  # the same seed and events, other settings
                for later, *_ in (other for other in runs[index + 1 :] if other[1] == seed):
                    for selector, metrics in result["pairs"][f"{later} - {earlier}"].items():
                        between_variants.append((model, later, earlier, selector, metrics["auc"]))
        differences = {}  # (variant, pair, selector) -> [(value, error, sigmas) per seed]
        for variant, per_seed in by_run.items():
            for predictions in per_seed.values() if not args.validation_only else ():
                if len(predictions) > 1:
                    table = ordering_table(run_uncertainties(predictions, rates, f"{tmp}/pairs.json", 1000, 1))
                    for row in table[table["metric"] == "auc"].itertuples():
                        differences.setdefault((variant, row.pair, row.selector), []).append((row.difference, row.difference_error, row.sigmas))
    print(f"on {args.events}, changes to {' + '.join(args.config)}")
    print("the kept epoch (the best one with early stopping, else the last) / the epochs run; its validation loss and accuracy")
    header = "" if args.validation_only else "  AUC " + " / ".join(CLASSES)
    print(f"{'model':10s} {'variant':60s} {'train':>6s} {'epochs':>6s} {'wall s':>7s} {'val loss':>8s} {'val acc':>8s}{header}")
    for model, run, train, epochs, wall, loss, accuracy, aucs in rows:
        print(f"{model:10s} {run:60s} {train:6d} {epochs:>6s} {wall:7.0f} {loss:8.4f} {accuracy:8.4f}  {' / '.join(aucs)}")
    if between_variants:
        print("AUC differences between variants of one model, with the same seed and events (paired bootstrap)")
        for model, later, earlier, selector, auc in between_variants:
            print(f"{model:10s} {later} − {earlier} {selector:6s} {with_error(auc['value'], auc['error'])} ({auc['sigmas']:+.1f} σ)")
    if differences:
        print("AUC differences: each training seed's (paired bootstrap), then their mean, spread over the seeds and mean error")
        for (variant, pair, selector), values in differences.items():
            each = "  ".join(f"{with_error(value, error)} ({sigmas:+.1f} σ)" for value, error, sigmas in values)
            diffs, errors = np.array([value for value, _, _ in values]), np.array([error for _, error, _ in values])
            mean, spread, error = diffs.mean(), diffs.std(ddof=1) if len(values) > 1 else float("nan"), errors.mean()
            print(f"{variant:20s} {pair:24s} {selector:6s} {each}  | mean {mean:+.5f}, spread {spread:.5f}, error {error:.5f}")


if __name__ == "__main__":
    main()
