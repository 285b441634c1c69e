"""Throughput vs Spark workers (the original's "BigDL scalability" figure).

For each worker count of the config, a real standalone cluster (``dltrigger.tools.cluster``, one core per
worker) runs the ingestion of the raw samples and a training of one model, and the steady-state
throughput of each is recorded, as for a production run whose fixed costs are amortised: ingestion
runs twice, on the raw files once and ``ingest_repeats`` times over, and its throughput is the
difference in events read over the difference in Spark job time (each Python worker's start-up and
first imports, ~5 s, cancel out); training throughput is training events per second over the epochs
after the first (which pays for process start-up and the first Parquet reads), with the batch
per worker of ``train.batch_size`` as in the original (global batch = batch × workers: weak scaling).

Each point is measured several times (``repeats`` differenced ingestion pairs; each timed training
epoch), and the table carries the mean, its standard error and the spread: on a machine with few cores
the runs vary by tens of per cent. A speed-up above the ideal (linear) one is flagged, not reported:
it is noise until a longer measurement repeats it.
"""

from __future__ import annotations

import logging
import os
import tempfile

import numpy as np
import pandas as pd

from .core.files import atomic_path, remove
from .physics.quirks import Quirks
from .tools.cluster import standalone_cluster

log = logging.getLogger(__name__)

COLUMNS = [
    "step",
    "workers",
    "cores",
    "repeats",
    "events",
    "seconds",
    "events_per_second",
    "events_per_second_std",
    "events_per_second_error",
    "speedup",
    "speedup_error",
    "efficiency",
    "above_ideal",
]


def measure(
    samples: list[dict],
    train_dir: str,
    validation_dir: str,
    test_dir: str,
    output: str,
    settings: dict,
    spark_config: dict,
    train_settings: dict,
    quirks: Quirks,
    seed: int,
    run_ingest,
    run_training,
    log_dir: str = "logs/scalability",
) -> pd.DataFrame:
    """Measure ingestion and training throughput for each of ``settings['workers']`` and write the TSV
    ``output`` (one row per step and worker count, speed-up relative to the smallest count).
    ``run_ingest`` and ``run_training`` are the stages' own entry points, run as the workflow runs them."""
    rows = []
    scratch = tempfile.mkdtemp(prefix="scalability-", dir=os.path.dirname(os.path.abspath(output)))
    try:
        for workers in settings["workers"]:
            with standalone_cluster(workers, 1, settings["worker_memory"], os.path.join(log_dir, f"cluster-{workers}")) as cluster:
                spark = dict(spark_config, master=cluster["master"], executor_memory=settings["executor_memory"], event_log=False)
                log.info("%d worker(s): %s", workers, cluster["master"])
                pairs = [_ingestion_pair(run_ingest, samples, scratch, workers, spark, settings, quirks, log_dir) for _ in range(settings["repeats"])]
                rows.append(_row("ingestion", workers, pairs))
                model = settings["model"]
                # Every epoch runs, of one training: a throughput measurement, not a model.
                training = dict(
                    train_settings,
                    workers=workers,
                    threads_per_worker=1,
                    epochs={model: settings["epochs"]},
                    early_stopping={"patience": 0},
                    ensemble=1,
                )
                directories = (train_dir, validation_dir, test_dir)
                history = run_training(
                    model, *directories, os.path.join(scratch, f"train-{workers}"), training, spark, workers, seed, log_dir=log_dir
                )
                rows.append(_row("training", workers, [(e["train_events"], e["wall_seconds"]) for e in history[1:]]))
                log.info(
                    "%d worker(s): ingestion %.0f events/s, training %.0f events/s",
                    workers,
                    rows[-2]["events_per_second"],
                    rows[-1]["events_per_second"],
                )
    finally:
        remove(scratch)
    table = pd.DataFrame(rows)
    for _, group in table.groupby("step"):
        base = group.loc[group.workers.idxmin()]
        speedup = group.events_per_second / base.events_per_second
        relative = np.hypot(group.events_per_second_error / group.events_per_second, base.events_per_second_error / base.events_per_second)
        table.loc[group.index, "speedup"] = speedup
        table.loc[group.index, "speedup_error"] = speedup * np.where(group.workers == base.workers, 0.0, relative)
        table.loc[group.index, "efficiency"] = speedup * base.workers / group.workers
        table.loc[group.index, "above_ideal"] = speedup * base.workers / group.workers > 1.0
    table = table[COLUMNS]
    with atomic_path(output) as temporary:
        table.to_csv(temporary, sep="\t", index=False, float_format="%.6g")
    return table


def _ingestion_pair(run_ingest, samples, scratch, workers, spark, settings, quirks, log_dir) -> tuple[int, float]:
    """Events and seconds of the difference of two ingestions (the raw files once, and ``ingest_repeats``
    times over): start-up (Python workers, first imports) cancels out."""
    runs = []
    for repeats in (1, settings["ingest_repeats"]):
        copies = [dict(sample, files=sample["files"] * repeats) for sample in samples]
        events = os.path.join(scratch, f"events-{workers}-{repeats}.parquet")
        runs.append(
            run_ingest(copies, events, os.path.join(scratch, "cutflow.tsv"), spark, workers, quirks, settings["events_per_task"], log_dir=log_dir)
        )
        remove(events)
    events, seconds = runs[1]["events_read"] - runs[0]["events_read"], runs[1]["job_seconds"] - runs[0]["job_seconds"]
    if seconds <= 0:  # too few events to resolve: the larger run's rate, start-up included
        log.warning("%d worker(s): ingestion runs too short to difference; throughput includes start-up", workers)
        events, seconds = runs[1]["events_read"], runs[1]["job_seconds"]
    return events, seconds


def _row(step: str, workers: int, runs: list[tuple[int, float]]) -> dict:
    """Mean throughput of repeated runs, with the spread of the runs and the standard error of the mean."""
    rates = np.array([events / seconds for events, seconds in runs])
    spread = rates.std(ddof=1) if rates.size > 1 else 0.0
    return {
        "step": step,
        "workers": workers,
        "cores": workers,
        "repeats": rates.size,
        "events": int(sum(e for e, _ in runs)),
        "seconds": sum(s for _, s in runs),
        "events_per_second": rates.mean(),
        "events_per_second_std": spread,
        "events_per_second_error": spread / np.sqrt(rates.size),
    }
