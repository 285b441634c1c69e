"""Averaging over epochs against the best epoch, decided on the validation events only.

Trains the torch networks of a finished run's feature tables with several training seeds (the
configuration's settings; each training keeps its per-epoch checkpoints), then scores on the validation
events the best epoch's weights (what the workflow keeps) against an average over a window of epochs:
the ``k`` epochs up to the best one, the best one with its neighbours, or the best one to the last one
run. ``--average weights`` averages the windows' weights (as stochastic weight averaging does),
``--average probabilities`` the class probabilities their weights give (a snapshot ensemble). Prints
per model and window the mean validation loss over the seeds, and per pair of models and selector the
mean and the spread over the seeds of the validation-AUC difference: whether averaging steadies what
the training seed moves. Each training scores the test events as the workflow's does; this bench never
reads those scores. The best epoch was chosen on the same validation loss, which favours it by a little.
With ``--reuse`` a training already under ``--output`` (``<output>/seed-<seed>/<model>``) is read back,
not redone, once its seed, its events, its batch size, learning rate, epochs and patience are checked
against the configuration's.

    tests/loopback.sh .venv/bin/python bench/bench_checkpoint_average.py --features results/features \\
        --seeds 20190522 1 2 3 4 5 [--average probabilities] [--output DIR [--reuse]]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
from dltrigger.core.config import load_config  # noqa: E402
from dltrigger.core.registry import REGISTRY, model_setting  # noqa: E402
from dltrigger.core.schema import LABELS  # noqa: E402
from dltrigger.train import run_training  # noqa: E402
from dltrigger.train.data import Dataset  # noqa: E402

from helpers import SPARK  # noqa: E402  (the tests' Spark settings)
from machine import cpu_model  # noqa: E402

MODELS = ("hlf", "particle", "inclusive")
SPARK_SETTINGS = dict(SPARK, driver_memory="4g", executor_memory="2g")
PAIRS = (("inclusive", "particle"), ("particle", "hlf"), ("inclusive", "hlf"))


def windows(best: int, epochs_run: int) -> dict[str, list[int]]:
    """The epochs (from 1) each window averages, around the best epoch of a training."""
    chosen = {"best epoch": [best]}
    for k in (2, 3, 5):
        chosen[f"last {k} to best"] = list(range(max(1, best - k + 1), best + 1))
    chosen["best ± 1"] = list(range(max(1, best - 1), min(epochs_run, best + 1) + 1))
    chosen["best to last"] = list(range(best, epochs_run + 1))
    return chosen


def validation_probabilities(model: str, state: dict, validation: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """The class probabilities of ``state``'s weights on the validation events, and their labels."""
    import torch

    from dltrigger.models.torch_models import build

    network = build(model)
    network.load_state_dict(state)
    network.eval()
    inputs = REGISTRY[model].inputs
    logits, labels = [], []
    with torch.no_grad():
        compact = not REGISTRY[model].reads_every_row  # as the engine scores
        for batch in validation.batches(0, validation.rows, 1024, (*inputs, "label"), compact=compact, buckets=(None, 0) if compact else None):
            logits.append(network(*(torch.from_numpy(np.require(batch[name], requirements=["C", "W"])) for name in inputs)))
            labels.append(batch["label"])
    return torch.softmax(torch.cat(logits).double(), dim=1).numpy(), np.concatenate(labels)


def scores(probabilities: np.ndarray, labels: np.ndarray) -> tuple[float, list[float]]:
    """Mean cross-entropy and one-vs-rest AUC per class of ``probabilities``."""
    from sklearn.metrics import roc_auc_score

    chosen = probabilities[np.arange(len(labels)), labels]
    loss = float(-np.mean(np.log(np.clip(chosen, np.finfo(np.float64).tiny, None))))
    return loss, [roc_auc_score(labels == code, probabilities[:, code]) for code in LABELS.values()]


def epoch_weights(used: dict, epoch: int) -> dict:
    """The model weights a training (``used``: its training_config.json) saved after ``epoch``."""
    import torch

    path = os.path.join(used["checkpoint_dir"], f"epoch-{epoch:03d}.pt")
    return torch.load(path, map_location="cpu", weights_only=False)["model"]


def averaged(states: list[dict]) -> dict:
    """The element-wise mean of model weights."""
    return {name: sum(state[name] for state in states) / len(states) for name in states[0]}


def trained(model: str, seed: int, splits: dict, root: str, settings: dict, features: str, reuse: bool) -> str:
    """The output folder of ``model`` trained with ``seed``: trained now, or read back with ``reuse``."""
    output = os.path.join(root, f"seed-{seed}", model)
    done = os.path.join(output, "training_config.json")
    if reuse and os.path.exists(done):
        with open(done) as handle:
            used = json.load(handle)
        events = {split: Dataset.open(path).rows for split, path in splits.items()}
        if used["seed"] != seed or any(used[f"{split}_events"] != rows for split, rows in events.items()):
            raise SystemExit(f"{done}: trained with seed {used['seed']} on other events than {features}'s, not to be reused for seed {seed}")
        expected = {
            "batch_size": model_setting(settings["batch_size"], model),
            "learning_rate": model_setting(settings["learning_rate"], model),
            "epochs": settings["epochs"][model],
            "patience": model_setting(settings["early_stopping"]["patience"], model),
        }
        differ = [f"{key} {used[key]} (configured: {value})" for key, value in expected.items() if used[key] != value]
        if differ:
            raise SystemExit(f"{done}: trained with other settings than the configuration's, not to be reused: {', '.join(differ)}")
        return output
    run_training(
        model, splits["train"], splits["validation"], splits["test"], output, settings, SPARK_SETTINGS, 2, seed=seed,
        preprocessing_path=os.path.join(features, "preprocessing.json"), log_dir=os.path.join(root, "logs"),
    )  # fmt: skip
    return output


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", default="results/features", help="a feature preparation's output folder")
    parser.add_argument(
        "--config", nargs="+", default=["config/config.yaml"], help="the settings the trainings use (later files on top, as Snakemake's --configfile)"
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=[20190522, 1, 2])
    parser.add_argument("--average", choices=("weights", "probabilities"), default="weights", help="what a window averages")
    parser.add_argument("--output", help="where the trainings go (kept; default: a temporary folder)")
    parser.add_argument("--reuse", action="store_true", help="read back the trainings already under --output")
    args = parser.parse_args()
    if args.reuse and not args.output:
        parser.error("--reuse reads the trainings under --output: give it")
    settings = dict(load_config(*args.config)["train"], engine="torch", ensemble=1)  # one training per seed
    splits = {split: os.path.join(args.features, f"{split}.parquet") for split in ("train", "validation", "test")}
    validation = Dataset.open(splits["validation"])
    results = {}  # (model, window) -> [(loss, AUCs) per seed]
    with tempfile.TemporaryDirectory() as scratch:
        root = args.output or scratch
        for seed in args.seeds:
            for model in MODELS:
                output = trained(model, seed, splits, root, settings, args.features, args.reuse)
                with open(os.path.join(output, "training_config.json")) as handle:
                    used = json.load(handle)
                with open(os.path.join(output, "history.json")) as handle:
                    history = json.load(handle)
                if not used["patience"]:
                    raise SystemExit(f"{' + '.join(args.config)}: no early stopping for {model}: its training keeps its last epoch, not its best")
                best = used["model_epoch"]
                scored = {}  # epoch -> (probabilities, labels) of its weights alone
                for window, epochs in windows(best, used["epochs_run"]).items():
                    if args.average == "weights":
                        result = scores(*validation_probabilities(model, averaged([epoch_weights(used, epoch) for epoch in epochs]), validation))
                    else:
                        for epoch in epochs:
                            if epoch not in scored:
                                scored[epoch] = validation_probabilities(model, epoch_weights(used, epoch), validation)
                        result = scores(np.mean([scored[epoch][0] for epoch in epochs], axis=0), scored[best][1])
                    if epochs == [best] and not np.isclose(result[0], history[best - 1]["val_loss"], rtol=1e-4):
                        raise SystemExit(f"{output}: epoch {best} scores {result[0]:.5f} here, {history[best - 1]['val_loss']:.5f} in training")
                    results.setdefault((model, window), []).append(result)
    print(f"{cpu_model()}; {args.features}: {validation.rows} validation events; training seeds {args.seeds}; averaging {args.average}")
    print("validation loss: mean over the seeds (± standard error); the change from the best epoch, seed by seed (± standard error)")
    for (model, window), per_seed in results.items():
        losses = np.array([loss for loss, _ in per_seed])
        change = losses - np.array([loss for loss, _ in results[(model, "best epoch")]])
        print(
            f"  {model:10s} {window:16s} {losses.mean():.4f} ± {losses.std(ddof=1) / np.sqrt(len(losses)):.4f}"
            f"   {change.mean():+.4f} ± {change.std(ddof=1) / np.sqrt(len(change)):.4f}, higher in {(change > 0).sum()} of {len(change)}"
        )
    print("validation-AUC difference per selector: mean / spread over the seeds")
    for window in dict.fromkeys(window for _, window in results):
        for first, second in PAIRS:
            differences = np.array([np.subtract(a[1], b[1]) for a, b in zip(results[(first, window)], results[(second, window)])])
            cells = "  ".join(f"{name} {differences[:, code].mean():+.5f} / {differences[:, code].std(ddof=1):.5f}" for name, code in LABELS.items())
            print(f"  {window:16s} {first} − {second:10s} {cells}")


if __name__ == "__main__":
    main()
