"""The framework comparison (the original's "Keras on GPU vs BigDL on YARN" figure): the same models
trained on the same data for the same epochs by each engine; throughput and test AUC per engine and model."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from ..core.files import atomic_path
from ..core.schema import CLASSES
from .metrics import one_vs_rest_auc, read_predictions


def comparison_row(engine: str, model: str, history_path: str, predictions_dir: str) -> dict:
    """Throughput over the epochs after the first (the first also pays start-up and compilation) and the
    one-vs-rest test AUC of each class and their mean."""
    with open(history_path) as handle:
        history = json.load(handle)
    timed = history[1:] or history
    labels, scores = read_predictions(predictions_dir)
    aucs = {f"auc_{name}": one_vs_rest_auc(labels, scores[:, k], k) for k, name in enumerate(CLASSES)}
    return {
        "engine": engine,
        "model": model,
        "epochs": len(history),
        "timed_epochs": len(timed),
        "samples_per_second": float(np.mean([epoch["samples_per_second"] for epoch in timed])),
        "epoch_seconds": float(np.mean([epoch["wall_seconds"] for epoch in timed])),
        "auc_mean": float(np.mean(list(aucs.values()))),
        **aucs,
        "val_accuracy": history[-1]["val_accuracy"],
    }


def write_comparison(runs: list[tuple[str, str, str, str]], path: str) -> pd.DataFrame:
    """``runs``: (engine, model, history.json, predictions.parquet) each; one row per run, as TSV."""
    table = pd.DataFrame([comparison_row(*run) for run in runs])
    with atomic_path(path) as temporary:
        table.to_csv(temporary, sep="\t", index=False, float_format="%.6g")
    return table
