"""Evaluation of the trained classifiers on the test set: one-vs-rest ROC curves and AUCs per selector,
confusion matrices, and trigger operating points (TPR at fixed FPR, FPR at 99 % TPR) turned into
background rates with the cross-sections recorded by the generation stage. Vectorized over events.
ROC curves, AUCs and confusion matrices come from scikit-learn; the code here does what it does not: each
class's efficiency at every threshold (the rates weight the background classes by cross-section) and
the trigger operating points."""

from __future__ import annotations

import logging
from collections import Counter

import numpy as np
import pandas as pd

from ..core.errors import InputError
from ..core.files import atomic_path, read_json, write_json
from ..core.schema import CLASSES, ID_COLUMNS, PROBABILITY_COLUMNS, TPR_TARGET

log = logging.getLogger(__name__)

FPR_POINTS = (1e-3, 1e-2, 1e-1)
# Picobarn -> cm^2: a rate in Hz is sigma [pb] x 1e-36 x luminosity [cm^-2 s^-1].
PB_IN_CM2 = 1e-36
# ROC points kept per selector for the plots (the metrics use every point).
ROC_GRID = np.unique(np.concatenate([np.logspace(-6, 0, 601), np.linspace(0, 1, 1001)]))

# The original's test set (all its AUCs are measured on it, unless noted in the source).
PAPER_TEST_EVENTS = 856_090
# The original's AUCs per class, None where it published none.
PAPER_AUC = {
    "hlf": {"values": (0.9874, 0.9856, 0.9814), "source": "HLF, tf.keras CPU, 5 epochs"},
    "particle": {"values": (0.9907, None, None), "source": "particle sequence, Analytics Zoo, 50 epochs"},
    "inclusive": {"values": (0.9949, 0.9967, 0.9946), "source": "inclusive GRU, tf.keras CPU, 5 epochs"},
    "inclusive_lstm": {"values": (0.9952, 0.9968, 0.9947), "source": "inclusive LSTM, TF 2.8, 6 epochs"},
    "inclusive_transformer": {"values": (0.9936, 0.9948, 0.9923), "source": "inclusive Transformer, TF 2.12 on a T4, 6 epochs"},
    "rf": {"values": (None, 0.9824, 0.9769), "source": "Spark ML random forest, 100 trees of depth 10 (2024)"},
    "xgboost": {"values": (None, 0.9865, 0.9830), "source": "SparkXGBClassifier, XGBoost 2.0.3 defaults (2024)"},
}


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


def trigger_cross_sections(manifests: list[str], events_dir: str) -> dict:
    """Cross-section (pb) of each class after the isolated-lepton selection: per generated sample, its
    lepton-filtered cross-section times the fraction of its events the ingestion selected. None for a
    class with a sample of unknown cross-section (external Delphes files) or none at all (external
    feature tables: no manifests)."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    selected = Counter()
    if manifests:
        for item in pc.value_counts(pq.read_table(events_dir, columns=["source_file"]).column("source_file")).to_pylist():
            selected[item["values"]] += item["counts"]
    parts, unknown = {c: [] for c in CLASSES}, set()
    for path in manifests:
        manifest = read_json(path)
        if "filtered_cross_section_pb" not in manifest:
            unknown.add(manifest["label"])
            continue
        kept = sum(selected[file] for file in manifest["files"])
        parts[manifest["label"]].append(manifest["filtered_cross_section_pb"] * kept / manifest["events_kept"])
    return {c: sum(parts[c]) if parts[c] and c not in unknown else None for c in CLASSES}


def trigger_rows(metrics: dict, rate_hz: dict) -> list[dict]:
    """One row per selector: operating points and the background rate before and after the selector's
    99 %-efficiency threshold, each background class weighted by its trigger-level rate (``rate_hz``,
    from its cross-section; not by its share of the class-balanced test set)."""
    rows = []
    for name, selector in metrics["selectors"].items():
        point = selector["operating_point"]
        row = {"model": metrics["model"], "selector": name, "auc": selector["auc"]}
        row.update({f"tpr_at_fpr_{p}": v for p, v in selector["tpr_at_fpr"].items()})
        row.update(threshold_99=point["threshold"], tpr_99=point["tpr"], fpr_99=point["fpr"])
        backgrounds = [c for c in CLASSES if c != name]
        if all(rate_hz[c] is not None for c in backgrounds):
            tested = metrics["test_events"]
            before = sum(rate_hz[c] for c in backgrounds)
            # No background event left: bound the rate by one event per class.
            bound = all(point["efficiency"][c] == 0 for c in backgrounds)
            passed = {c: point["efficiency"][c] or (1 / tested[c] if bound else 0.0) for c in backgrounds}
            after = sum(rate_hz[c] * passed[c] for c in backgrounds)
            row.update(rate_before_hz=before, rate_after_hz=after, reduction=before / after if after else None, reduction_is_lower_bound=bound)
        rows.append(row)
    return rows


def markdown_table(frame: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table (no tabulate dependency)."""
    cells = frame.astype(object).where(frame.notna(), "—").astype(str)
    lines = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(row) + " |" for row in cells.to_numpy()]
    return "\n".join(lines) + "\n"


def write_rates(manifests: list[str], events_dir: str | None, luminosity: float, path: str) -> dict:
    """Trigger-level cross-section and rate of each class (JSON), for the trigger table and figures."""
    sigma = trigger_cross_sections(manifests, events_dir)
    rates = {
        "luminosity_cm2s": luminosity,
        "cross_section_pb": sigma,
        "rate_hz": {c: None if s is None else s * PB_IN_CM2 * luminosity for c, s in sigma.items()},
    }
    write_json(path, rates)
    return rates


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
    from .uncertainty import bootstrap

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


def auc_table(all_metrics: list[dict], uncertainties: dict) -> pd.DataFrame:
    """Our AUC per model and selector, with its 68 % interval, beside the original's; ``pull`` is the
    difference in units of our uncertainty."""
    rows = []
    for metrics in all_metrics:
        # A model beyond the original's has no paper values.
        paper = PAPER_AUC.get(metrics["model"], {"values": (None,) * len(CLASSES), "source": "not in the original"})
        for k, name in enumerate(CLASSES):
            ours = uncertainties["models"][metrics["model"]][name]["auc"]
            pull = (ours["value"] - paper["values"][k]) / ours["error"] if paper["values"][k] is not None and ours["error"] > 0 else None
            rows.append(
                {
                    "model": metrics["model"],
                    "selector": name,
                    "auc": ours["value"],
                    "auc_error": ours["error"],
                    "paper_auc": paper["values"][k],
                    "pull": pull,
                    "accuracy": metrics["accuracy"],
                    "test_events": sum(metrics["test_events"].values()),
                    "paper_source": paper["source"],
                }
            )
    return pd.DataFrame(rows)


def trigger_table(all_metrics: list[dict], rate_hz: dict, uncertainties: dict) -> pd.DataFrame:
    """The trigger rows of every model, each bootstrapped metric with its 68 % interval's half-width."""
    rows = []
    for metrics in all_metrics:
        for row in trigger_rows(metrics, rate_hz):
            bootstrapped = uncertainties["models"][metrics["model"]][row["selector"]]
            for column, metric in ERROR_COLUMNS.items():
                if column in row and metric in bootstrapped:
                    row[f"{column}_error"] = bootstrapped[metric]["error"] if row[column] is not None else None
            rows.append(row)
    return pd.DataFrame(rows)


# Trigger-table columns and the bootstrapped metric that gives each its uncertainty.
ERROR_COLUMNS = {**{f"tpr_at_fpr_{p:g}": f"tpr_at_fpr_{p:g}" for p in FPR_POINTS}, "fpr_99": f"fpr_at_tpr_{TPR_TARGET:g}", "reduction": "reduction"}


def ordering_table(uncertainties: dict) -> pd.DataFrame:
    """Per pair of models and selector: the AUC difference and the FPR-at-99 %-TPR difference, each with
    its 68 % interval, its size in units of that, and whether the pair is ordered beyond 1 and 2 sigma
    (paired bootstrap)."""
    rows = []
    for pair, selectors in uncertainties["pairs"].items():
        for selector, metrics in selectors.items():
            for metric in ("auc", f"fpr_at_tpr_{TPR_TARGET:g}"):
                difference = metrics[metric]
                rows.append(
                    {
                        "pair": pair,
                        "selector": selector,
                        "metric": metric,
                        "difference": difference["value"],
                        "difference_error": difference["error"],
                        "sigmas": difference["sigmas"],
                        "beyond_1_sigma": difference["beyond_1_sigma"],
                        "beyond_2_sigma": difference["beyond_2_sigma"],
                    }
                )
    return pd.DataFrame(rows, columns=["pair", "selector", "metric", "difference", "difference_error", "sigmas", "beyond_1_sigma", "beyond_2_sigma"])


def write_tables(metrics_paths: list[str], rates_path: str, uncertainties_path: str, outputs: dict) -> None:
    """The AUC, trigger and ordering tables (TSV and Markdown) of every trained model."""
    all_metrics = [read_json(path) for path in metrics_paths]
    uncertainties = read_json(uncertainties_path)
    tables = {
        "auc": auc_table(all_metrics, uncertainties),
        "trigger": trigger_table(all_metrics, read_json(rates_path)["rate_hz"], uncertainties),
        "ordering": ordering_table(uncertainties),
    }
    for name, frame in tables.items():
        with atomic_path(outputs[f"{name}_tsv"]) as temporary:
            frame.to_csv(temporary, sep="\t", index=False, float_format="%.6g")
        with atomic_path(outputs[f"{name}_md"]) as temporary, open(temporary, "w") as handle:
            handle.write(markdown_table(with_errors(frame)))


def with_errors(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns ``x`` and ``x_error`` as one column ``x`` of ``value ± error`` (the error to two significant
    digits, the value to the same decimal place); other numbers to four significant digits: rates span
    orders of magnitude, so fixed decimals would hide them."""
    out = pd.DataFrame(index=frame.index)
    for column in frame.columns:
        if column.endswith("_error"):
            continue
        if f"{column}_error" in frame.columns:
            out[column] = [with_error(v, e) for v, e in zip(frame[column], frame[f"{column}_error"])]
        else:
            out[column] = frame[column].map(lambda v: f"{v:.4g}" if isinstance(v, float) and v == v else v)
    return out


def with_error(value, error) -> str | None:
    """``value ± error``, the error to two significant digits and the value to the same decimal place."""
    if value is None or value != value:
        return None
    if error is None or error != error or error <= 0:
        return f"{value:.4g}"
    decimals = max(0, 1 - int(np.floor(np.log10(error))))
    return f"{value:.{decimals}f} ± {error:.{decimals}f}"
