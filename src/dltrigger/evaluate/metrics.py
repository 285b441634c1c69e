"""The evaluation of one trained classifier on the test set (rule evaluate): one-vs-rest ROC curves and
AUCs per selector, confusion matrix, and the trigger operating points (TPR at fixed FPR, FPR at 99 %
TPR). ROC curves, AUCs and confusion matrices come from scikit-learn; the code here does what it does
not: each class's efficiency at every threshold (the rates weight the background classes by
cross-section) and the operating points. Vectorized over events."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from ..core.errors import InputError
from ..core.files import atomic_path, write_json
from ..core.schema import CLASSES, PROBABILITY_COLUMNS, TPR_TARGET

log = logging.getLogger(__name__)

FPR_POINTS = (1e-3, 1e-2, 1e-1)

# ROC points kept per selector for the plots (the metrics use every point).
ROC_GRID = np.unique(np.concatenate([np.logspace(-6, 0, 601), np.linspace(0, 1, 1001)]))


def read_predictions(directory: str) -> tuple[np.ndarray, np.ndarray]:
    """Labels (n,) and class probabilities (n, 3) of a training stage's ``predictions.parquet``."""
    import pyarrow.parquet as pq

    columns = list(PROBABILITY_COLUMNS)
    try:
        table = pq.read_table(directory, columns=[*columns, "label"])
    except (OSError, ValueError, KeyError) as exc:
        raise InputError(f"{directory}: not a predictions Parquet directory with columns {columns + ['label']}: {exc}") from None
    if table.num_rows == 0:
        raise InputError(f"{directory}: no predictions")
    labels = table.column("label").to_numpy().astype(np.int64)
    scores = np.stack([table.column(name).to_numpy() for name in columns], axis=1).astype(np.float64)
    missing = [CLASSES[k] for k in range(len(CLASSES)) if not np.any(labels == k)]
    if missing:
        raise InputError(f"{directory}: no test events of class {', '.join(missing)}: a ROC curve needs every class")
    return labels, scores


def class_efficiencies(labels: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Thresholds (decreasing distinct scores) and, for each, the fraction of each class's events with
    score >= threshold: an array (thresholds, classes), 0 for a class without events. The first row is
    the empty selection (+inf)."""
    order = np.argsort(-score, kind="stable")
    sorted_score = score[order]
    counts = np.cumsum(np.eye(len(CLASSES), dtype=np.int64)[labels[order]], axis=0)
    # Only the last event of a run of equal scores is an operating point (ties pass together).
    last_of_tie = np.r_[np.flatnonzero(np.diff(sorted_score)), len(score) - 1]
    thresholds = np.r_[np.inf, sorted_score[last_of_tie]]
    passed = np.vstack([np.zeros(len(CLASSES), np.int64), counts[last_of_tie]])
    return thresholds, passed / np.maximum(np.bincount(labels, minlength=len(CLASSES)), 1)


def roc_curve(labels: np.ndarray, score: np.ndarray, signal: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One-vs-rest ROC of class ``signal``: fpr, tpr and thresholds at every distinct score (the first
    threshold, +inf, selects nothing), as ``class_efficiencies`` lists them."""
    from sklearn.metrics import roc_curve as sklearn_roc_curve

    return sklearn_roc_curve(labels == signal, score, drop_intermediate=False)


def one_vs_rest_auc(labels: np.ndarray, score: np.ndarray, signal: int) -> float:
    """Area under the one-vs-rest ROC curve of class ``signal`` (ties count one half, as in the
    Mann-Whitney statistic)."""
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(labels == signal, score))


def tpr_at_fpr(fpr: np.ndarray, tpr: np.ndarray, target: float) -> float:
    """Largest signal efficiency reachable at background efficiency ``target`` (linear between points)."""
    index = np.searchsorted(fpr, target, side="right") - 1
    if fpr[index] == target or index == len(fpr) - 1:
        return float(tpr[index])
    step = (target - fpr[index]) / (fpr[index + 1] - fpr[index])
    return float(tpr[index] + step * (tpr[index + 1] - tpr[index]))


def fpr_at_tpr(fpr: np.ndarray, tpr: np.ndarray, target: float) -> float:
    """Smallest background efficiency at which the signal efficiency reaches ``target``."""
    index = int(np.searchsorted(tpr, target, side="left"))
    if tpr[index] == target or index == 0:
        return float(fpr[index])
    step = (target - tpr[index - 1]) / (tpr[index] - tpr[index - 1])
    return float(fpr[index - 1] + step * (fpr[index] - fpr[index - 1]))


def confusion_matrix(labels: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Counts (true class, predicted class), the prediction being the most probable class."""
    from sklearn.metrics import confusion_matrix as sklearn_confusion_matrix

    return sklearn_confusion_matrix(labels, np.argmax(scores, axis=1), labels=range(len(CLASSES)))


def evaluate_model(labels: np.ndarray, scores: np.ndarray) -> tuple[dict, pd.DataFrame]:
    """Metrics of one classifier (JSON-ready) and its ROC points per selector, thinned for plotting."""
    counts = np.bincount(labels, minlength=len(CLASSES))
    confusion = confusion_matrix(labels, scores)
    metrics = {
        "test_events": {name: int(n) for name, n in zip(CLASSES, counts)},
        "accuracy": float(np.trace(confusion) / len(labels)),
        "confusion": confusion.tolist(),
        "confusion_normalized": (confusion / counts[:, None]).tolist(),
        "selectors": {},
    }
    curves = []
    for signal, name in enumerate(CLASSES):
        fpr, tpr, thresholds = roc_curve(labels, scores[:, signal], signal)
        # Each class's efficiency at the same thresholds: the background rates weight the classes apart.
        _, efficiency = class_efficiencies(labels, scores[:, signal])
        background_events = int(counts.sum() - counts[signal])
        # The loosest threshold that keeps >= 99 % of the signal: an operating point a trigger can use.
        at_target = int(np.searchsorted(tpr, TPR_TARGET, side="left"))
        metrics["selectors"][name] = {
            "auc": one_vs_rest_auc(labels, scores[:, signal], signal),
            # Below one background event the FPR is not measured: None instead of an extrapolation.
            "tpr_at_fpr": {f"{p:g}": (tpr_at_fpr(fpr, tpr, p) if p * background_events >= 1 else None) for p in FPR_POINTS},
            "fpr_at_tpr": {f"{TPR_TARGET:g}": fpr_at_tpr(fpr, tpr, TPR_TARGET)},
            "operating_point": {
                "threshold": float(thresholds[at_target]),
                "tpr": float(tpr[at_target]),
                "fpr": float(fpr[at_target]),
                "efficiency": dict(zip(CLASSES, efficiency[at_target].tolist())),
            },
            "background_events": background_events,
        }
        keep = np.unique(np.r_[np.searchsorted(fpr, ROC_GRID), np.searchsorted(tpr, ROC_GRID), len(fpr) - 1])
        keep = keep[keep < len(fpr)]
        curve = pd.DataFrame({"selector": name, "threshold": thresholds[keep], "fpr": fpr[keep], "tpr": tpr[keep]})
        for k, other in enumerate(CLASSES):
            curve[f"efficiency_{other}"] = efficiency[keep, k]
        curves.append(curve)
    return metrics, pd.concat(curves, ignore_index=True)


def run_evaluation(predictions_dir: str, metrics_path: str, roc_path: str, *, model: str, engine: str) -> dict:
    labels, scores = read_predictions(predictions_dir)
    metrics, curves = evaluate_model(labels, scores)
    metrics.update(model=model, engine=engine)
    with atomic_path(roc_path) as temporary:
        curves.to_csv(temporary, sep="\t", index=False, float_format="%.9g")
    write_json(metrics_path, metrics)
    aucs = ", ".join(f"{name} {s['auc']:.4f}" for name, s in metrics["selectors"].items())
    log.info("%s (%s): %d test events, accuracy %.4f, AUC %s", model, engine, len(labels), metrics["accuracy"], aucs)
    return metrics
