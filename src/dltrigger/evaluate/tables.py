"""The evaluation's tables (rule evaluation_tables): AUC per model and selector beside the original's,
the trigger operating points with background rates, and the orderings of pairs of models, each number
with its bootstrapped uncertainty; as TSV and as Markdown."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..core.files import atomic_path, read_json
from ..core.schema import CLASSES, TPR_TARGET
from .metrics import FPR_POINTS

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
