"""Statistical uncertainties of the evaluation: a paired bootstrap over the test events.

Every resample draws the test events with replacement once, and every classifier is scored on that same
draw, so differences between classifiers keep their correlation (they are scored on the same events):
the spread of a difference is far smaller than the spreads of its two terms would suggest. Copies of one
generated event (QCD's redecays, the replicas of prescaled events) are not independent draws: they are
drawn together, as one. The metrics
of each resample (AUC, TPR at fixed FPR, FPR at 99 % TPR, the background-rate reduction at the 99 %
operating point) come from one sort of the scores and cumulative sums of the resampling weights:
vectorized over events and resamples. Errors are half the central 68 % interval.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from ..core.errors import InputError
from ..core.files import read_json, write_json
from ..core.schema import CLASSES, ID_COLUMNS, PROBABILITY_COLUMNS, TPR_TARGET
from .metrics import FPR_POINTS

log = logging.getLogger(__name__)

ONE_SIGMA = 0.6827
CHUNK = 100  # resamples computed together: bounds the memory to ~CHUNK x test events x 8 bytes per array


def resampling_weights(groups: np.ndarray, resamples: int, seed: int) -> np.ndarray:
    """(resamples, events) integer weights: how often each event is drawn in each resample, the events of
    one group (``groups``: each event's group, 0 ... n-1) together."""
    n = int(groups.max()) + 1
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n, size=(resamples, n))
    rows = np.repeat(np.arange(resamples), n)
    return np.bincount(rows * n + draws.reshape(-1), minlength=resamples * n).reshape(resamples, n)[:, groups].astype(np.int32)


def selector_metrics(
    labels: np.ndarray, score: np.ndarray, signal: int, weights: np.ndarray, fpr_points, tpr_target: float, rate_hz: list | None = None
) -> dict:
    """One-vs-rest metrics of class ``signal`` for each row of ``weights`` (events weighted by how often a
    resample drew them; a row of ones is the test set itself): arrays of one value per row. ``rate_hz``:
    each class's trigger-level rate, for the background-rate reduction at the ``tpr_target`` point."""
    n_classes = int(labels.max()) + 1
    order = np.argsort(-score, kind="stable")
    sorted_score, sorted_labels = score[order], labels[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(sorted_score)), len(score) - 1]  # ties pass together
    passed = np.zeros((weights.shape[0], last_of_tie.size + 1, n_classes))
    for k in range(n_classes):
        passed[:, 1:, k] = np.cumsum(weights[:, order] * (sorted_labels == k), axis=1)[:, last_of_tie]
    totals = passed[:, -1, :]
    efficiency = passed / np.maximum(totals, 1)[:, None, :]
    background = np.arange(n_classes) != signal
    tpr = efficiency[:, :, signal]
    fpr = passed[:, :, background].sum(axis=2) / np.maximum(totals[:, background].sum(axis=1), 1)[:, None]
    out = {"auc": np.trapezoid(tpr, fpr, axis=1)}
    for point in fpr_points:
        out[f"tpr_at_fpr_{point:g}"] = _interpolate(fpr, tpr, point)
    out[f"fpr_at_tpr_{tpr_target:g}"] = _interpolate(tpr, fpr, tpr_target, first_reaching=True)
    if rate_hz is not None:
        at = np.minimum((tpr < tpr_target).sum(axis=1), tpr.shape[1] - 1)  # the loosest threshold reaching the target
        passing = efficiency[np.arange(len(at)), at][:, background]
        rates = np.asarray(rate_hz, dtype=float)[background]
        # No background event left: bounded by one event of each background class, as the trigger table.
        bound = np.where(passing.sum(axis=1, keepdims=True) == 0, 1 / np.maximum(totals[:, background], 1), passing)
        out["reduction"] = rates.sum() / (bound @ rates)
    return out


def _interpolate(x: np.ndarray, y: np.ndarray, target: float, first_reaching: bool = False) -> np.ndarray:
    """Per row of the non-decreasing ``x``: y at x = target, linear between points; ``first_reaching``:
    at the first point where x reaches the target (y of the smallest x >= target side), else the last
    point with x <= target."""
    rows = np.arange(x.shape[0])
    if first_reaching:
        above = np.minimum((x < target).sum(axis=1), x.shape[1] - 1)
        below = np.maximum(above - 1, 0)
    else:
        below = np.maximum((x <= target).sum(axis=1) - 1, 0)
        above = np.minimum(below + 1, x.shape[1] - 1)
    x0, x1, y0, y1 = x[rows, below], x[rows, above], y[rows, below], y[rows, above]
    span = np.where(x1 > x0, x1 - x0, 1.0)
    step = np.clip((target - x0) / span, 0.0, 1.0)
    return np.where(x1 > x0, y0 + step * (y1 - y0), y1 if first_reaching else y0)


def interval(values: np.ndarray, level: float = ONE_SIGMA) -> tuple[float, float]:
    """Central interval of a bootstrap distribution."""
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def summary(nominal: float, values: np.ndarray) -> dict:
    """A metric's value on the test set and its 68 % interval: error = half the interval's width."""
    low, high = interval(values)
    return {"value": float(nominal), "error": (high - low) / 2, "low": low, "high": high}


def ordering(nominal: float, values: np.ndarray) -> dict:
    """A difference between two classifiers on the same resamples: its value, error, its size in units
    of the error, and whether it is beyond 1 and 2 of them (the two classifiers are ordered beyond 1 or
    2 sigma). The error is half the 68 % interval; 1,000 resamples put too few in the tails of a 95 %
    interval to read it directly."""
    result = summary(nominal, values)
    sigmas = result["value"] / result["error"] if result["error"] > 0 else (0.0 if result["value"] == 0 else float(np.sign(result["value"])) * 1e9)
    return {**result, "sigmas": sigmas, "beyond_1_sigma": bool(abs(sigmas) > 1), "beyond_2_sigma": bool(abs(sigmas) > 2)}


def bootstrap(
    labels: np.ndarray,
    scores: dict,
    classes: list[str],
    resamples: int,
    seed: int,
    fpr_points,
    tpr_target: float,
    rate_hz: list | None = None,
    groups: np.ndarray | None = None,
) -> dict:
    """Paired bootstrap of every classifier (``scores``: name -> (events, classes) probabilities on the same
    test events, in the same order): per classifier and selector, each metric with its 68 % interval;
    per pair and selector, the differences and whether they are ordered beyond 1 and 2 sigma. ``groups``:
    each event's generated event (0 ... n-1), whose copies are drawn together; default: all independent."""
    groups = np.arange(labels.size) if groups is None else groups
    ones = np.ones((1, labels.size), dtype=np.int32)
    # Each chunk's draws come from the seed and the chunk's first resample: the same for every classifier.
    chunks = [resampling_weights(groups, min(CHUNK, resamples - start), seed + start) for start in range(0, resamples, CHUNK)]
    per_model, pairs = {name: {} for name in scores}, {}
    for signal, selector in enumerate(classes):
        nominal, resampled = {}, {}
        for name, probabilities in scores.items():
            score = probabilities[:, signal]
            nominal[name] = {
                metric: float(values[0]) for metric, values in selector_metrics(labels, score, signal, ones, fpr_points, tpr_target, rate_hz).items()
            }
            parts = [selector_metrics(labels, score, signal, weights, fpr_points, tpr_target, rate_hz) for weights in chunks]
            resampled[name] = {metric: np.concatenate([part[metric] for part in parts]) for metric in parts[0]}
            per_model[name][selector] = {metric: summary(nominal[name][metric], values) for metric, values in resampled[name].items()}
        names = list(scores)
        for i, second in enumerate(names):  # each later (richer) model against each earlier one
            for first in names[i + 1 :]:
                pairs.setdefault(f"{first} - {second}", {})[selector] = {
                    metric: ordering(nominal[first][metric] - nominal[second][metric], resampled[first][metric] - resampled[second][metric])
                    for metric in resampled[first]
                }
    independent = int(groups.max()) + 1
    return {
        "resamples": resamples,
        "seed": seed,
        "test_events": int(labels.size),
        "independent_events": independent,
        "models": per_model,
        "pairs": pairs,
    }


def read_scored_events(directory: str) -> pd.DataFrame:
    """A predictions directory as a table of test events (label, probabilities, identity), in the order
    of their identity (source file, entry), so that the predictions of several models line up."""
    import pyarrow.parquet as pq

    columns = [*PROBABILITY_COLUMNS, "label", *ID_COLUMNS]
    try:
        frame = pq.read_table(directory, columns=columns).to_pandas()
    except (OSError, ValueError, KeyError) as exc:
        raise InputError(f"{directory}: not a predictions Parquet directory with columns {columns}: {exc}") from None
    return frame.sort_values(["source_file", "entry"], kind="stable").reset_index(drop=True)


def run_uncertainties(predictions: dict, rates_path: str, output: str, resamples: int, seed: int) -> dict:
    """Paired bootstrap of every model's test-set metrics (``predictions``: model -> predictions
    directory), written as JSON: each metric with its 68 % interval, and each pair of models ordered
    beyond 1 or 2 sigma or not."""
    frames = {model: read_scored_events(directory) for model, directory in predictions.items()}
    first_model, first = next(iter(frames.items()))
    for model, frame in frames.items():
        if len(frame) != len(first) or not frame[["source_file", "entry", "label"]].equals(first[["source_file", "entry", "label"]]):
            raise InputError(f"{predictions[model]}: not the test events of {predictions[first_model]}; models are compared on the same events")
    rate_hz = read_json(rates_path)["rate_hz"]
    rates = [rate_hz[c] for c in CLASSES] if all(rate_hz[c] is not None for c in CLASSES) else None
    scores = {model: frame[list(PROBABILITY_COLUMNS)].to_numpy(np.float64) for model, frame in frames.items()}
    # Copies of one generated event (one source file and event number) are resampled together.
    groups = first.groupby(["source_file", "event_number"], sort=False).ngroup().to_numpy()
    result = bootstrap(first["label"].to_numpy(np.int64), scores, list(CLASSES), resamples, seed, FPR_POINTS, TPR_TARGET, rates, groups)
    write_json(output, result)
    ordered = [f"{pair} ({selector})" for pair, by in result["pairs"].items() for selector, m in by.items() if m["auc"]["beyond_2_sigma"]]
    log.info(
        "%d resamples of %d test events (%d generated events); AUC differences beyond 2 sigma: %s",
        resamples,
        len(first),
        result["independent_events"],
        ", ".join(ordered) or "none",
    )
    return result
