"""Throughput vs Spark workers (the original's "BigDL scalability" figure, reference §F.2 / figure 5).

For each worker count of the config, a real standalone cluster (``dltrigger.cluster``, one core per
worker) runs the ingestion of the raw samples and a training of one model, and the steady-state
throughput of each is recorded, as for a production run whose fixed costs are amortised: ingestion
runs twice, on the raw files once and ``ingest_repeats`` times over, and its throughput is the
difference in events read over the difference in Spark job time (each Python worker's start-up and
first imports, ~5 s, cancel out); training throughput is training events per second over the epochs
after the first (which pays for process start-up and the first Parquet reads), with the batch
per worker of ``train.batch_size`` as in the original (global batch = batch × workers: weak scaling).
"""

from __future__ import annotations

import logging
import os
import tempfile

import pandas as pd

from .cluster import standalone_cluster
from .files import atomic_path, remove
from .ingest import run_ingest
from .train import run_training

log = logging.getLogger(__name__)

COLUMNS = ["step", "workers", "cores", "events", "seconds", "events_per_second", "speedup", "efficiency"]


def measure(samples: list[dict], train_dir: str, test_dir: str, output: str, settings: dict, spark_config: dict,
            train_settings: dict, quirks: bool, seed: int, log_dir: str = "logs/scaling") -> pd.DataFrame:  # fmt: skip
    """Measure ingestion and training throughput for each of ``settings['workers']`` and write the TSV
    ``output`` (one row per step and worker count, speed-up relative to the smallest count)."""
    rows = []
    scratch = tempfile.mkdtemp(prefix="scaling-", dir=os.path.dirname(os.path.abspath(output)))
    try:
        for workers in settings["workers"]:
            with standalone_cluster(workers, 1, settings["worker_memory"], os.path.join(log_dir, f"cluster-{workers}")) as cluster:
                spark = dict(spark_config, master=cluster["master"], executor_memory=settings["executor_memory"], event_log=False)
                log.info("%d worker(s): %s", workers, cluster["master"])
                runs = []
                for repeats in (1, settings["ingest_repeats"]):
                    copies = [dict(sample, files=sample["files"] * repeats) for sample in samples]
                    events = os.path.join(scratch, f"events-{workers}-{repeats}.parquet")
                    runs.append(run_ingest(copies, events, os.path.join(scratch, "cutflow.tsv"), spark, workers, quirks, settings["events_per_task"], log_dir=log_dir))
                    remove(events)
                # The difference of the two runs: start-up (Python workers, first imports) cancels out.
                events, seconds = runs[1]["events_read"] - runs[0]["events_read"], runs[1]["job_seconds"] - runs[0]["job_seconds"]
                if seconds <= 0:  # too few events to resolve: the larger run's rate, start-up included
                    log.warning("%d worker(s): ingestion runs too short to difference; throughput includes start-up", workers)
                    events, seconds = runs[1]["events_read"], runs[1]["job_seconds"]
                rows.append(_row("ingestion", workers, events, seconds))
                model = settings["model"]
                training = dict(train_settings, workers=workers, threads_per_worker=1, epochs={model: settings["epochs"]})
                history = run_training(model, train_dir, test_dir, os.path.join(scratch, f"train-{workers}"), training, spark, workers, seed, log_dir)
                steady = history[1:] or history
                rows.append(_row("training", workers, sum(e["train_events"] for e in steady), sum(e["wall_seconds"] for e in steady)))
                log.info("%d worker(s): ingestion %.0f events/s, training %.0f events/s", workers, rows[-2]["events_per_second"], rows[-1]["events_per_second"])
    finally:
        remove(scratch)
    table = pd.DataFrame(rows)
    for step, group in table.groupby("step"):
        base = group.loc[group.workers.idxmin()]
        table.loc[group.index, "speedup"] = group.events_per_second / base.events_per_second
        table.loc[group.index, "efficiency"] = table.loc[group.index, "speedup"] * base.workers / group.workers
    table = table[COLUMNS]
    with atomic_path(output) as temporary:
        table.to_csv(temporary, sep="\t", index=False, float_format="%.6g")
    return table


def _row(step: str, workers: int, events: int, seconds: float) -> dict:
    return {"step": step, "workers": workers, "cores": workers, "events": int(events), "seconds": seconds, "events_per_second": events / seconds}
