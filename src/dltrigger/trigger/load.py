"""Latency against offered load, the curve streaming systems are judged by: the streaming trigger first
at saturation (every chunk landed at once) to measure its capacity, then replayed at fractions of that
rate, each run's chunk latency (arrival to sink commit) in steady state, the start-up batch apart.

Each repeat runs in a Spark session of its own (a warm-up pass, the saturation run, then the loads in
order); the replay is the workflow's, ``copies`` times over, so that every run has many micro-batches.
"""

from __future__ import annotations

import logging
import math
import os
import tempfile

import pandas as pd

from ..core.files import atomic_path
from .stream import replay_copies, stream_on

log = logging.getLogger(__name__)

COLUMNS = (
    "repeat",
    "cores",
    "load",
    "offered_events_per_second",
    "events_read",
    "batches",
    "latency_p50_s",
    "latency_p99_s",
    "first_batch_latency_s",
    "events_per_second_per_core",
    "executor_ms_per_event",
    "batch_overhead_s",
)


def run_load_study(
    menu_path: str,
    replay_dir: str,
    output: str,
    spark_config: dict,
    cores: int,
    loads: list[float],
    repeats: int,
    copies: int,
    chunks_per_batch: int,
    timeout_seconds: float,
    log_dir: str = "logs/spark",
) -> pd.DataFrame:
    """Writes ``output`` (TSV): per repeat, the saturation run (load 1, offered rate infinite) and one run
    per fraction of ``loads`` of that repeat's measured capacity (raw events/s over all cores), each with
    its steady-state latency p50/p99, its start-up batch's latency, throughput per core, the executors'
    CPU per event and the median micro-batch overhead (``stream.stream_timing``)."""
    from ..core.spark import spark_session

    rows = []
    with tempfile.TemporaryDirectory(prefix="stream-load-", dir=os.path.dirname(os.path.abspath(output))) as work:
        replay = replay_copies(replay_dir, os.path.join(work, "replay"), copies)
        for repeat in range(repeats):
            with spark_session(f"dltrigger-stream-load-{repeat}", spark_config, cores, log_dir) as spark:
                # A first saturated pass, not recorded, warms the JVM (its code generation and JIT) as a
                # trigger that has been running for a while is: otherwise the capacity is underestimated.
                stream_on(spark, menu_path, replay, os.path.join(work, f"{repeat}-warm-up"), cores, math.inf, chunks_per_batch, timeout_seconds)
                capacity = None
                for load in (1.0, *loads):
                    rate = math.inf if capacity is None else load * capacity
                    summary = stream_on(
                        spark, menu_path, replay, os.path.join(work, f"{repeat}-{load:g}"), cores, rate, chunks_per_batch, timeout_seconds
                    )
                    row = {"repeat": repeat, "cores": cores, "load": load, "offered_events_per_second": rate}
                    rows.append({**row, **{column: summary[column] for column in COLUMNS if column not in row}})
                    log.info("repeat %d, load %g: latency p50 %.2f s, p99 %.2f s", repeat, load, summary["latency_p50_s"], summary["latency_p99_s"])
                    capacity = capacity or summary["events_per_second_per_core"] * cores  # from the saturation run
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    with atomic_path(output) as temporary:
        table.to_csv(temporary, sep="\t", index=False, float_format="%.6g")
    return table
