"""The study's figures (mplhep, CMS-like style), each written as PNG and PDF with reproducible bytes:
ROC curves per selector, trigger efficiency vs background rate, training curves, confusion matrices,
cutflow and class composition, and the input-feature distributions per class."""

from __future__ import annotations

import contextlib
import os

import numpy as np
import pandas as pd

from ..core.arrays import numpy_of_lists
from ..core.files import atomic_path, read_json
from ..core.registry import member_histories
from ..core.schema import CLASSES, HLF_NAMES, TPR_TARGET
from .tables import with_error

# One colour per model and per class, the same in every figure.
MODEL_STYLE = {
    "hlf": ("#3f90da", "HLF classifier"),
    "particle": ("#ffa90e", "Particle-sequence classifier"),
    "inclusive": ("#bd1f01", "Inclusive classifier"),
    "inclusive_lstm": ("#832db6", "Inclusive classifier (LSTM)"),
    "inclusive_transformer": ("#92dadd", "Inclusive classifier (Transformer)"),
    "inclusive_pcloud": ("#b9ac70", "Inclusive classifier (particle cloud)"),
    "inclusive_part": ("#717581", "Inclusive classifier (particle transformer)"),
    "rf": ("#a96b59", "Random forest (HLF)"),
    "xgboost": ("#717581", "XGBoost (HLF)"),
}
CLASS_STYLE = {"qcd": ("#94a4a2", "QCD"), "ttbar": ("#e76300", r"$t\bar{t}$"), "wjets": ("#5790fc", "W+jets")}
HLF_UNITS = {"HT": "GeV", "MET": "GeV", "MT": "GeV", "LepPt": "GeV"}
INTEGER_FEATURES = {"nJets", "nBjets", "LepCharge", "LepIsEle"}
# No timestamps or version strings in the files: a rerun writes the same bytes.
PNG_METADATA = {"Software": None}
PDF_METADATA = {"Creator": None, "Producer": None, "CreationDate": None}


@contextlib.contextmanager
def figure(ncols: int = 1, nrows: int = 1, size: tuple[float, float] | None = None):
    """A figure in the study's style; yields (fig, axes)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import mplhep as hep

    with plt.style.context(hep.style.CMS):
        fig, axes = plt.subplots(nrows, ncols, figsize=size or (10 * ncols, 9 * nrows), squeeze=False)
        try:
            yield fig, axes
        finally:
            plt.close(fig)


def label(ax, settings: dict, **kwargs) -> None:
    """The experiment-style label: '<label> Simulation' on the left, '(13 TeV)' on the right."""
    import mplhep as hep

    hep.label.exp_label(exp=settings["label"], data=False, com=f"{settings['sqrt_s_tev']:g}", ax=ax, loc=0, **kwargs)


def save(fig, paths: dict, settings: dict) -> None:
    """Write ``fig`` to paths['png'] and paths['pdf'], each atomically."""
    for kind, metadata in (("png", PNG_METADATA), ("pdf", PDF_METADATA)):
        with atomic_path(paths[kind]) as temporary:
            fig.savefig(temporary, format=kind, dpi=settings["dpi"], metadata=metadata, bbox_inches="tight")


def read_curves(paths: dict) -> dict:
    """ROC tables per model (evaluate's roc.tsv)."""
    return {model: pd.read_csv(path, sep="\t") for model, path in paths.items()}


def read_metrics(paths: dict) -> dict:
    return {model: read_json(path) for model, path in paths.items()}


def plot_roc(curves: dict, metrics: dict, uncertainties: dict, selector: str, outputs: dict, settings: dict) -> None:
    """One-vs-rest ROC of ``selector``, every model overlaid, AUC and its 68 % interval in the legend;
    linear and log-FPR."""
    for scale in ("linear", "log"):
        with figure() as (fig, axes):
            ax = axes[0, 0]
            floor = 1.0
            for model, curve in curves.items():
                points = curve[curve["selector"] == selector]
                colour, name = MODEL_STYLE[model]
                area = uncertainties["models"][model][selector]["auc"]
                ax.plot(points["fpr"], points["tpr"], color=colour, lw=2.5, label=f"{name} (AUC = {with_error(area['value'], area['error'])})")
                floor = min(floor, 1 / max(metrics[model]["selectors"][selector]["background_events"], 1))
            grid = np.logspace(np.log10(floor), 0, 200) if scale == "log" else np.linspace(0, 1, 2)
            ax.plot(grid, grid, color="grey", ls="--", lw=1.5, label="Random")
            if scale == "log":
                ax.set_xscale("log")
                ax.set_xlim(floor, 1)
            else:
                ax.set_xlim(0, 1)
            ax.set_ylim(0, 1.05)
            ax.set_xlabel("Background contamination (FPR)")
            ax.set_ylabel("Signal efficiency (TPR)")
            ax.legend(loc="lower right", title=f"{CLASS_STYLE[selector][1]} selector", fontsize="x-small", title_fontsize="small")
            label(ax, settings)
            save(fig, outputs[scale], settings)


def plot_trigger(curves: dict, metrics: dict, rates: dict, outputs: dict, settings: dict) -> None:
    """Per selector: signal efficiency vs the background rate left (cross-section weighted), the
    99 %-efficiency operating point marked; vs the FPR where a background class has no cross-section."""
    with figure(ncols=len(CLASSES), size=(9 * len(CLASSES), 8.5)) as (fig, axes):
        for ax, selector in zip(axes[0], CLASSES):
            backgrounds = [c for c in CLASSES if c != selector]
            in_hz = all(rates["rate_hz"][c] is not None for c in backgrounds)
            for model, curve in curves.items():
                points = curve[curve["selector"] == selector]
                if in_hz:
                    x = sum(rates["rate_hz"][c] * points[f"efficiency_{c}"] for c in backgrounds)
                else:
                    x = points["fpr"]
                colour, name = MODEL_STYLE[model]
                ax.plot(x, points["tpr"], color=colour, lw=2.5, label=name)
                point = metrics[model]["selectors"][selector]["operating_point"]
                at = sum(rates["rate_hz"][c] * point["efficiency"][c] for c in backgrounds) if in_hz else point["fpr"]
                if at > 0:
                    ax.plot([at], [point["tpr"]], marker="o", ms=10, color=colour)
            ax.axhline(TPR_TARGET, color="grey", ls=":", lw=1.5)
            ax.set_xscale("log")
            ax.set_ylim(0, 1.05)
            ax.set_xlabel("Background rate [Hz]" if in_hz else "Background efficiency (FPR)")
            ax.set_ylabel("Signal efficiency")
            ax.legend(loc="lower right", title=f"{CLASS_STYLE[selector][1]} selector", fontsize="x-small")
            label(ax, settings, fontsize=18)
        save(fig, outputs, settings)


def plot_training(history: list[dict], model: str, outputs: dict, settings: dict) -> None:
    """Loss and accuracy per epoch on the training and the validation events, and the epoch of the lowest
    validation loss (the model's, where the training stopped early); an ensemble's members each drawn
    alike, the first one's marked."""
    colour, name = MODEL_STYLE[model]
    members = member_histories(history)
    with figure(ncols=2, size=(18, 8)) as (fig, axes):
        for ax, key, title in zip(axes[0], ("loss", "accuracy"), ("Loss (cross-entropy)", "Accuracy")):
            for member, records in enumerate(members):
                epochs = [row["epoch"] for row in records]
                first = member == 0
                style = {"color": colour, "lw": 2.5 if first else 1.2, "alpha": 1 if first else 0.6}
                ax.plot(epochs, [row[key] for row in records], marker="o", label="Training" if first else None, **style)
                ax.plot(epochs, [row[f"val_{key}"] for row in records], ls="--", marker="s", label="Validation" if first else None, **style)
                lowest = epochs[int(np.argmin([row["val_loss"] for row in records]))]
                ax.axvline(lowest, color="grey", lw=1.5 if first else 0.8, ls=":", label="Lowest validation loss" if first else None)
            ax.set_xlabel("Epoch")
            ax.set_ylabel(title)
            ax.xaxis.get_major_locator().set_params(integer=True)
            ax.legend(title=name if len(members) == 1 else f"{name}, {len(members)} trainings", fontsize="small")
            label(ax, settings, fontsize=18)
        save(fig, outputs, settings)


def plot_confusion(metrics: dict, model: str, outputs: dict, settings: dict) -> None:
    """3x3 confusion matrix normalised per true class (rows sum to 1), counts in brackets."""
    normalized = np.array(metrics["confusion_normalized"])
    counts = np.array(metrics["confusion"])
    names = [CLASS_STYLE[c][1] for c in CLASSES]
    with figure(size=(10, 9)) as (fig, axes):
        ax = axes[0, 0]
        image = ax.imshow(normalized, cmap="Blues", vmin=0, vmax=1)
        for (i, j), value in np.ndenumerate(normalized):
            ax.text(j, i, f"{value:.3f}\n({counts[i, j]})", ha="center", va="center", fontsize=18, color="white" if value > 0.5 else "black")
        ax.set_xticks(range(len(CLASSES)), names)
        ax.set_yticks(range(len(CLASSES)), names)
        ax.minorticks_off()
        ax.set_xlabel("Predicted class")
        ax.set_ylabel("True class")
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
        ax.set_title(MODEL_STYLE[model][1], fontsize=20, pad=40)
        label(ax, settings, fontsize=18)
        save(fig, outputs, settings)


def cutflow_steps(cutflow_path: str, counts_path: str) -> pd.DataFrame:
    """Events per class at each step: the ingestion cuts, then class balancing and the train/test split."""
    steps = pd.read_csv(cutflow_path, sep="\t", index_col="cut")[list(CLASSES)]
    counts = read_json(counts_path)
    split = pd.DataFrame([counts["train"], counts["test"]], index=["train", "test"])[list(CLASSES)]
    balanced = pd.DataFrame([split.sum()], index=["balanced"])
    return pd.concat([steps, balanced, split])


def plot_cutflow(steps: pd.DataFrame, rates: dict, outputs: dict, settings: dict) -> None:
    """Events per class after each step (bars, log scale), and the class composition of the
    isolated-lepton stream by cross-section (the original's pie: W 63.4 %, QCD 36.2 %, tt̄ 0.4 %)."""
    with figure(ncols=2, size=(22, 9)) as (fig, axes):
        ax = axes[0, 0]
        positions = np.arange(len(steps))
        width = 0.8 / len(CLASSES)
        for k, name in enumerate(CLASSES):
            colour, text = CLASS_STYLE[name]
            ax.bar(positions + (k - 1) * width, steps[name], width, color=colour, label=text)
        ax.set_yscale("log")
        ax.set_xticks(positions, steps.index, rotation=30, ha="right", fontsize=16)
        ax.minorticks_off()
        ax.set_ylabel("Events")
        ax.legend(fontsize="small")
        label(ax, settings, fontsize=18)
        pie = axes[0, 1]
        sigma = rates["cross_section_pb"]
        if all(sigma[c] is not None for c in CLASSES) and sum(sigma.values()) > 0:
            shares = [sigma[c] for c in CLASSES]
            pie.pie(
                shares,
                labels=[CLASS_STYLE[c][1] for c in CLASSES],
                colors=[CLASS_STYLE[c][0] for c in CLASSES],
                autopct=lambda p: f"{p:.1f} %",
                startangle=90,
                counterclock=False,
                textprops={"fontsize": 18},
            )
            pie.set_title("Isolated-lepton stream (cross-section weighted)", fontsize=20)
        else:
            pie.text(0.5, 0.5, "class composition needs the cross-section of every sample", ha="center", va="center", fontsize=16)
            pie.axis("off")
        save(fig, outputs, settings)


def plot_scalability(table: pd.DataFrame, model: str, outputs: dict, settings: dict) -> None:
    """Throughput vs Spark workers for ingestion and training, each with the ideal (linear) scaling from
    the smallest worker count: the mean of the repeated runs with their spread as error bars and the
    speed-up written at each point (the original's scalability bars). A point above the ideal line is
    marked as noise, not given a speed-up."""
    steps = {"ingestion": ("Ingestion (selection + features)", "#3f90da"), "training": (f"Training ({MODEL_STYLE[model][1]})", MODEL_STYLE[model][0])}
    with figure(ncols=2, size=(20, 9)) as (fig, axes):
        for ax, (step, (title, colour)) in zip(axes[0], steps.items()):
            rows = table[table.step == step].sort_values("workers")
            base = rows.iloc[0]
            ideal = base.events_per_second * rows.workers / base.workers
            ax.plot(rows.workers, ideal, "--", color="grey", label="ideal scaling")
            ax.errorbar(
                rows.workers,
                rows.events_per_second,
                yerr=rows.events_per_second_std,
                fmt="o-",
                color=colour,
                markersize=10,
                capsize=6,
                label=f"measured (mean, spread of {int(rows.repeats.min())}+ runs)",
            )
            for row in rows.itertuples():
                text = "above ideal: noise" if row.above_ideal else f"×{row.speedup:.2f} ± {row.speedup_error:.2f}"
                ax.annotate(text, (row.workers, row.events_per_second), textcoords="offset points", xytext=(8, -22), fontsize=16)
            ax.set_xticks(rows.workers)
            ax.set_xlim(0, rows.workers.max() + 0.5)
            ax.set_ylim(0, max(ideal.max(), (rows.events_per_second + rows.events_per_second_std).max()) * 1.25)
            ax.set_xlabel("Spark workers (1 core each)")
            ax.set_ylabel("Throughput [events/s]")
            ax.legend(loc="upper left", fontsize="small", title=title, title_fontsize="small")
            label(ax, settings, fontsize=18)
        save(fig, outputs, settings)


ENGINE_COLOURS = {"torch": "#e42536", "keras": "#3f90da", "bigdl": "#964a8b"}


def plot_engine_comparison(table: pd.DataFrame, models: list[str], outputs: dict, settings: dict) -> None:
    """Throughput (log scale) and mean test AUC per model, one bar per engine (the original's framework
    comparison), each bar labelled with its value."""
    engines = list(dict.fromkeys(table.engine))
    width = 0.8 / len(engines)
    with figure(ncols=2, size=(20, 9)) as (fig, axes):
        for ax, (column, ylabel) in zip(
            axes[0], (("samples_per_second", "Training throughput [events/s]"), ("auc_mean", "Test AUC (mean one-vs-rest)"))
        ):
            for i, engine in enumerate(engines):
                rows = table[table.engine == engine].set_index("model").reindex(models)
                positions = np.arange(len(models)) + (i - (len(engines) - 1) / 2) * width
                bars = ax.bar(positions, rows[column], width, color=ENGINE_COLOURS.get(engine), label=engine)
                ax.bar_label(bars, fmt="%.0f" if column == "samples_per_second" else "%.3f", fontsize=13)
            ax.set_xticks(np.arange(len(models)), [MODEL_STYLE[model][1] for model in models])
            if column == "samples_per_second":
                ax.set_yscale("log")
                ax.set_ylim(table[column].min() / 3, table[column].max() * 8)
            else:
                ax.set_ylim(0.5, 1.08)
            ax.set_ylabel(ylabel)
            ax.legend(loc="upper right", fontsize="small", ncols=len(engines))
            label(ax, settings, fontsize=18)
        save(fig, outputs, settings)


def feature_sample(events_dir: str, max_per_class: int) -> dict:
    """Unscaled HLF (n, 14) and particle counts of at most ``max_per_class`` selected events per class,
    read in batches (two light columns; the particle matrix is never read)."""
    import pyarrow.parquet as pq

    kept = {name: [] for name in CLASSES}
    room = dict.fromkeys(CLASSES, max_per_class)
    for path in sorted(p for p in os.listdir(events_dir) if p.endswith(".parquet")):
        for batch in pq.ParquetFile(os.path.join(events_dir, path)).iter_batches(columns=["hfeatures", "n_particles", "label"]):
            labels = batch.column("label").to_numpy()
            hlf = numpy_of_lists(batch.column("hfeatures"))
            multiplicity = batch.column("n_particles").to_numpy()
            for k, name in enumerate(CLASSES):
                rows = np.flatnonzero(labels == k)[: room[name]]
                if len(rows):
                    kept[name].append(np.column_stack([hlf[rows], multiplicity[rows]]))
                    room[name] -= len(rows)
        if not any(room.values()):
            break
    return {name: np.concatenate(parts) if parts else np.empty((0, len(HLF_NAMES) + 1)) for name, parts in kept.items()}


def plot_features(sample: dict, outputs: dict, settings: dict) -> None:
    """The 14 high-level features and the particle multiplicity, normalised per class (overflow in the
    last bin)."""
    names = [*HLF_NAMES, "n_particles"]
    pooled = np.concatenate([values for values in sample.values() if len(values)])
    with figure(ncols=4, nrows=4, size=(24, 22)) as (fig, axes):
        for index, (ax, name) in enumerate(zip(axes.flat, names)):
            column = pooled[:, index]
            if name in INTEGER_FEATURES:
                bins = np.arange(column.min() - 0.5, column.max() + 1.5)
            else:  # the central 99 %: the tails of HT or MET would squash the rest into one bin
                low, high = np.percentile(column, [0.5, 99.5])
                bins = np.linspace(low, high if high > low else low + 1, 41)
            for klass, values in sample.items():
                if len(values):
                    colour, text = CLASS_STYLE[klass]
                    counts, edges = np.histogram(np.clip(values[:, index], bins[0], bins[-1]), bins=bins)
                    ax.stairs(counts / max(counts.sum(), 1), edges, color=colour, lw=2, label=text)
            unit = HLF_UNITS.get(name)
            ax.set_xlabel(f"{name} [{unit}]" if unit else name, fontsize=20)
            ax.set_ylabel("Fraction of events", fontsize=20)
            ax.tick_params(labelsize=16)
            if index == 0:
                ax.legend(fontsize=18)
                label(ax, settings, fontsize=18)
        for ax in axes.flat[len(names) :]:
            ax.axis("off")
        save(fig, outputs, settings)


def plot_stream(metrics: pd.DataFrame, latency: pd.DataFrame, summary: dict, outputs: dict, settings: dict) -> None:
    """The streaming trigger over time: its output rate per micro-batch beside the rate its menu expects,
    the micro-batches' latency (file arrival to sink commit, p50 and p99) with the start-up batch (the
    first) marked apart, and the latency of every later chunk as a cumulative distribution with its p50
    and p99 (the steady state), the start-up batch's as a line."""
    colour = MODEL_STYLE.get(summary["model"], ("#e42536", summary["model"]))[0]
    elapsed = metrics.elapsed_s
    first = metrics.batch.min()
    with figure(ncols=3, size=(30, 9)) as (fig, axes):
        rate_ax, latency_ax, histogram_ax = axes[0]
        if "rate_hz" in metrics:
            rate_ax.plot(elapsed, metrics.rate_hz, "o-", color=colour, label="per micro-batch")
            measured = f"stream: {summary['rate_hz']:.1f} ± {summary['rate_hz_error']:.1f} Hz"
            rate_ax.axhline(summary["rate_hz"], color=colour, ls=":", lw=2, label=measured)
            rate_ax.axhline(
                summary["expected_rate_hz"],
                color="grey",
                ls="--",
                lw=2,
                label=f"menu (test set): {summary['expected_rate_hz']:.1f} ± {summary['expected_rate_hz_error']:.1f} Hz",
            )
            rate_ax.set_ylabel("Output rate [Hz]")
            rate_ax.set_ylim(0, max(metrics.rate_hz.max(), summary["expected_rate_hz"]) * 1.4)
        else:  # no cross-sections: accepted fraction instead
            rate_ax.plot(elapsed, metrics.accepted / metrics.selected.where(metrics.selected > 0), "o-", color=colour, label="per micro-batch")
            rate_ax.set_ylabel("Accepted fraction of selected events")
        rate_ax.set_xlabel("Time since the first chunk arrived [s]")
        rate_ax.legend(loc="upper left", fontsize="small", title=f"paths: {' or '.join(summary['paths'])}", title_fontsize="small")
        for column, style in (("latency_p50_s", "o-"), ("latency_p99_s", "s--")):
            latency_ax.plot(elapsed, metrics[column], style, color=colour, label=column.split("_")[1])
        startup = metrics.batch == first
        latency_ax.plot(elapsed[startup], metrics.latency_p99_s[startup], "D", color="black", ms=12, fillstyle="none", label="start-up batch")
        latency_ax.set_xlabel("Time since the first chunk arrived [s]")
        latency_ax.set_ylabel("Latency, arrival to sink commit [s]")
        latency_ax.set_ylim(0, metrics.latency_p99_s.max() * 1.4)
        latency_ax.legend(loc="upper left", fontsize="small", title=f"{summary['batches']} micro-batches", title_fontsize="small")
        # Every later chunk's latency as a cumulative distribution: readable for a handful of chunks as
        # for thousands.
        later = np.sort((latency[latency.batch != first] if (latency.batch != first).any() else latency).latency_s.to_numpy())
        histogram_ax.step(
            later, np.arange(1, later.size + 1) / later.size, where="post", color=colour, lw=2, label=f"{later.size} chunks after the start-up batch"
        )
        for name, ls in (("p50", "-"), ("p99", "--")):
            value = summary[f"latency_{name}_s"]
            histogram_ax.axvline(value, color="black", ls=ls, lw=2, label=f"{name}: {value:.2f} s")
        histogram_ax.axvline(
            summary["first_batch_latency_s"], color="grey", ls=":", lw=2, label=f"start-up batch: {summary['first_batch_latency_s']:.2f} s"
        )
        histogram_ax.set_xlabel("Chunk latency [s]")
        histogram_ax.set_ylabel("Fraction of chunks with a lower latency")
        histogram_ax.set_xlim(0, max(later.max(initial=0), summary["first_batch_latency_s"]) * 1.15)
        histogram_ax.set_ylim(0, 1.6)  # room for the legend
        offered = summary["offered_events_per_second"]
        throughput = (
            f"{f'{offered:.0f} events/s offered' if offered else 'every chunk at once'}\n"
            f"{summary['events_per_second_per_core']:.0f} events/s/core, {summary['executor_ms_per_event']:.2f} ms/event in the executors"
        )
        histogram_ax.legend(loc="upper left", fontsize="small", title=throughput, title_fontsize="small")
        for ax in axes[0]:
            label(ax, settings, fontsize=18)
        save(fig, outputs, settings)


def plot_stream_load(table: pd.DataFrame, outputs: dict, settings: dict) -> None:
    """Latency against offered load: chunk latency p50 and p99 (steady state; mean and spread of the
    repeats) at each fraction of the measured saturation rate, with that rate; and the throughput per
    core the stream delivers against the rate offered, with the executors' CPU per event."""
    saturation = table[table.load == 1.0]
    loads = table[table.load < 1.0].groupby("load")
    capacity = saturation.events_per_second_per_core
    with figure(ncols=2, size=(22, 9)) as (fig, axes):
        latency_ax, throughput_ax = axes[0]
        x = np.array(sorted(loads.groups)) * 100
        for column, style, name in (("latency_p50_s", "o-", "p50"), ("latency_p99_s", "s--", "p99")):
            latency_ax.errorbar(x, loads[column].mean(), yerr=loads[column].agg(_spread), fmt=style, capsize=6, lw=2, ms=10, label=name)
        latency_ax.axhline(1.0, color="grey", ls=":", lw=2, label="goal at 50 % load: p99 ≤ 1 s")
        latency_ax.axhline(0.1, color="grey", ls="-.", lw=1.5, label="Spark micro-batch floor (~0.1 s)")
        latency_ax.set_xlabel("Offered load [% of the saturation rate]")
        latency_ax.set_ylabel("Chunk latency, arrival to sink commit [s]")
        latency_ax.set_xlim(0, 100)
        latency_ax.set_ylim(0, max(loads.latency_p99_s.mean().max() * 1.5, 1.2))
        title = f"saturation: {capacity.mean():.0f} ± {_spread(capacity):.0f} events/s/core ({len(saturation)} repeats)"
        latency_ax.legend(loc="upper left", fontsize="small", title=title, title_fontsize="small")
        offered = loads.offered_events_per_second.mean() / loads.cores.first()  # offered over all cores
        delivered = loads.events_per_second_per_core
        throughput_ax.errorbar(x, delivered.mean(), yerr=delivered.agg(_spread), fmt="o-", capsize=6, lw=2, ms=10, label="delivered")
        throughput_ax.plot(x, offered, "k:", lw=2, label="offered")
        throughput_ax.axhline(capacity.mean(), color="grey", ls="--", lw=2, label="saturation")
        executor = table.executor_ms_per_event
        throughput_ax.set_xlabel("Offered load [% of the saturation rate]")
        throughput_ax.set_ylabel("Raw events per second per core")
        throughput_ax.set_xlim(0, 100)
        throughput_ax.set_ylim(0, capacity.mean() * 1.3)
        note = f"executors: {executor.mean():.3f} ± {_spread(executor):.3f} ms/event"
        throughput_ax.legend(loc="upper left", fontsize="small", title=note, title_fontsize="small")
        for ax in axes[0]:
            label(ax, settings, fontsize=18)
        save(fig, outputs, settings)


def draw_stream(metrics: str, latency: str, summary: str, outputs: dict, settings: dict) -> None:
    plot_stream(pd.read_csv(metrics, sep="\t"), pd.read_csv(latency, sep="\t"), read_json(summary), _pair(outputs), settings)


def _spread(values) -> float:
    """The standard deviation of repeated measurements (0 for a single one)."""
    return float(values.std(ddof=1)) if len(values) > 1 else 0.0


def draw_stream_load(table: str, outputs: dict, settings: dict) -> None:
    plot_stream_load(pd.read_csv(table, sep="\t"), _pair(outputs), settings)


def _pair(outputs: dict, prefix: str = "") -> dict:
    return {kind: outputs[f"{prefix}{kind}"] for kind in ("png", "pdf")}


def draw_roc(curves: dict, metrics: dict, uncertainties: str, outputs: dict, settings: dict) -> None:
    """The ROC figures of every selector (``curves``, ``metrics``: model -> roc.tsv, metrics.json);
    ``outputs`` names <selector>_<linear|log>_<png|pdf>."""
    curves, metrics, bootstrap = read_curves(curves), read_metrics(metrics), read_json(uncertainties)
    for selector in CLASSES:
        plot_roc(curves, metrics, bootstrap, selector, {s: _pair(outputs, f"{selector}_{s}_") for s in ("linear", "log")}, settings)


def draw_trigger(curves: dict, metrics: dict, rates: str, outputs: dict, settings: dict) -> None:
    plot_trigger(read_curves(curves), read_metrics(metrics), read_json(rates), _pair(outputs), settings)


def draw_models(histories: dict, metrics: dict, outputs: dict, settings: dict) -> None:
    """Training curves and confusion matrix of each model (``outputs``: <model>_<training|confusion>_<png|pdf>)."""
    metrics = read_metrics(metrics)
    for model, history in histories.items():
        plot_training(read_json(history), model, _pair(outputs, f"{model}_training_"), settings)
        plot_confusion(metrics[model], model, _pair(outputs, f"{model}_confusion_"), settings)


def draw_cutflow(cutflow: str, counts: str, rates: str, outputs: dict, settings: dict) -> None:
    plot_cutflow(cutflow_steps(cutflow, counts), read_json(rates), _pair(outputs), settings)


def draw_features(events: str, outputs: dict, settings: dict) -> None:
    plot_features(feature_sample(events, settings["max_events_per_class"]), _pair(outputs), settings)


def draw_scalability(table: str, model: str, outputs: dict, settings: dict) -> None:
    plot_scalability(pd.read_csv(table, sep="\t"), model, _pair(outputs), settings)


def draw_engine_comparison(table: str, models: list[str], outputs: dict, settings: dict) -> None:
    plot_engine_comparison(pd.read_csv(table, sep="\t"), models, _pair(outputs), settings)
