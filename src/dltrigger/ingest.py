"""Ingestion stage: Delphes ROOT files -> isolated-lepton selection -> 14 high-level features + the
particle rows, on Spark.

The driver checks every file and plans tasks of entry ranges; each task reads its ranges with uproot by
full branch names in batches of bounded size, computes the observables of each batch (``observables``) and writes its
selected events as one Parquet file, each event with its real particle rows only (the original's
801-row matrix is ~85 % zeros); the tasks report their cutflow counts back to the driver.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter

import numpy as np
import pyarrow as pa

from .core.arrays import arrow_lists, ragged_lists
from .core.errors import InputError
from .core.files import atomic_path, executor_path, write_parquet
from .core.schema import HLF_NAMES, LABELS
from .core.sources import is_remote, open_root
from .physics import kernels, observables
from .physics.delphes import TREE
from .physics.observables import BRANCH_NAMES, CUTS
from .physics.quirks import Quirks

log = logging.getLogger(__name__)

# Entry ranges are read and computed in batches of about this much compressed input of the branches
# read: 3,600-6,300 events with pileup mu = 20 (7.6-13 kB each), 19,000-28,000 without (1.7-2.5 kB).
# With pileup, a 25,000-event batch held several GB and spent more time in the kernel's memory handling
# than in the observables (164-275 us per event against 113-121 in batches of 4,000-8,000); batches of
# 2,000 events or fewer cost a fixed overhead each.
BATCH_BYTES = 48_000_000


# --------------------------------------------------------------------------------------------------
# Spark: plan tasks on the driver, compute features in the executors, write Parquet + cutflow
# --------------------------------------------------------------------------------------------------
def check_input(path: str, remote: dict | None = None) -> tuple[int, int, list[int]]:
    """Open a ROOT file's Delphes tree and check its branches; returns its number of events, the
    compressed bytes of the branches the ingestion reads and the entries where all those branches'
    baskets start (the tree's clusters: 0, ..., then the end)."""
    try:
        file = open_root(path, remote)
    except Exception as exc:  # uproot raises many types for damaged files
        if is_remote(path):
            raise InputError(f"{path}: {str(exc).splitlines()[0]}") from None
        raise InputError(f"{path}: not a readable ROOT file ({type(exc).__name__}: {str(exc).splitlines()[0]})") from None
    with file:
        size = None if is_remote(path) else os.path.getsize(path)  # remote truncation shows when read
        if size is not None and size < file.file.fEND:
            raise InputError(f"{path}: truncated ROOT file ({size} bytes, its header says {file.file.fEND})")
        if TREE not in file:
            found = ", ".join(sorted({key.split(";")[0] for key in file.keys()})) or "nothing"
            raise InputError(f"{path}: no TTree '{TREE}' (found: {found})")
        tree = file[TREE]
        present = set(tree.keys(recursive=True))
        missing = [name for name in BRANCH_NAMES if name not in present and not any(key.endswith("/" + name) for key in present)]
        if missing:
            raise InputError(f"{path}: missing branches {', '.join(missing)}")
        return (
            tree.num_entries,
            sum(tree[name].compressed_bytes for name in BRANCH_NAMES),
            [int(entry) for entry in tree.common_entry_offsets(filter_name=BRANCH_NAMES)],
        )


def aligned_ranges(start: int, stop: int, size: int, clusters: list[int]) -> list[tuple[int, int]]:
    """[start, stop) in consecutive ranges of at most ``size`` entries, each ending on the last cluster
    boundary in its second half, if any: a basket split between two ranges is read and decompressed by
    both (reading a pileup file in batches of 6,291 events on baskets of 2,000 took 90 us per event, in
    batches of 6,000, 58). Clusters larger than half a range are split where the range ends."""
    if size < 1:
        raise ValueError(f"ranges of {size} entries")
    ranges, first = [], start
    while first < stop:
        last = min(first + size, stop)
        ends = [entry for entry in clusters if first + size // 2 < entry <= last]
        last = ends[-1] if ends and last < stop else last
        ranges.append((first, last))
        first = last
    return ranges


def batches(task: dict) -> list[tuple[int, int]]:
    """The entry ranges a task reads and computes at once (``BATCH_BYTES``)."""
    return aligned_ranges(task["entry_start"], task["entry_stop"], task["batch_events"], task["clusters"])


def plan_tasks(samples: list[dict], events_per_task: int, remote: dict | None = None) -> list[dict]:
    """One task per entry range of at most ``events_per_task`` events of each file, on the file's
    clusters where it can; every file is checked."""
    tasks = []
    for sample_index, sample in enumerate(samples):
        total = 0
        for path in sample["files"]:
            entries, size, clusters = check_input(path, remote)
            total += entries
            batch_events = max(1, min(events_per_task, int(BATCH_BYTES * entries / max(size, 1))))
            for start, stop in aligned_ranges(0, entries, events_per_task, clusters):
                tasks.append(
                    {
                        "sample_index": sample_index,
                        "label": LABELS[sample["label"]],
                        "path": path,  # provenance: as given
                        "open_path": executor_path(path),  # executors run in their own working directory
                        "entry_start": start,
                        "entry_stop": stop,
                        "batch_events": batch_events,
                        "clusters": [entry for entry in clusters if start < entry < stop],
                    }
                )
        if total == 0:
            raise InputError(f"sample '{sample['sample']}': its files hold no events ({', '.join(sample['files'])})")
    return tasks


def group_tasks(tasks: list[dict], events_per_task: int) -> list[list[int]]:
    """Consecutive entry ranges packed into Spark tasks of at most ``events_per_task`` events: small
    files share a task, since each Spark task costs ~70 ms of scheduling and Python round trips."""
    groups, current, size = [], [], 0
    for index, task in enumerate(tasks):
        events = task["entry_stop"] - task["entry_start"]
        if current and size + events > events_per_task:
            groups.append(current)
            current, size = [], 0
        current.append(index)
        size += events
    return groups + [current] if current else groups


def ingest_ranges(ranges: list[dict], part: int, quirks: Quirks, output_dir: str, remote: dict | None = None) -> list[dict]:
    """Executor side of one Spark task: select and compute features of its entry ranges and write them as
    one Parquet file (pyarrow: Spark's row-wise conversion of nested arrays would cost more than the numpy
    work). The file name is the task's, written atomically, so a retried task replaces its own output.
    Returns the cutflow counts of each range."""
    tables, cutflows = [], []
    for task in ranges:
        cutflow = Counter()
        for table, batch_cutflow in _ingest_batches(task, quirks, remote):
            cutflow.update(batch_cutflow)
            if table is not None:
                tables.append(table)
        cutflows.append(dict(cutflow))
    if tables:
        with atomic_path(os.path.join(output_dir, f"part-{part:05d}.zstd.parquet")) as temporary:
            write_parquet(pa.concat_tables(tables), temporary)
    return cutflows


def _ingest_batches(task: dict, quirks: Quirks, remote: dict | None):
    """An entry range's (table or None, cutflow), batch by batch (``batches``)."""
    from .core.faults import fail_once

    fail_once("ingest", f"{os.path.basename(task['path'])}-{task['entry_start']}")
    for start, stop in batches(task):
        yield _ingest_range({**task, "entry_start": start, "entry_stop": stop}, quirks, remote)


def _ingest_range(task: dict, quirks: Quirks, remote: dict | None):
    try:
        events = observables.read(task["open_path"], task["entry_start"], task["entry_stop"], remote)
    except Exception as exc:
        raise InputError(
            f"{task['path']}: entries {task['entry_start']}-{task['entry_stop']} cannot be read "
            f"({type(exc).__name__}: {' '.join(str(exc).split())[:200]})"
        ) from None
    result = observables.compute(events, quirks)
    n = result["entry"].size
    if not n:
        return None, result["cutflow"]
    table = pa.table(
        {
            "hfeatures": arrow_lists(result["hlf"], len(HLF_NAMES)),
            "lfeatures": ragged_lists(result["llf"], result["n_particles"]),
            "n_particles": pa.array(result["n_particles"], pa.int32()),
            "label": pa.array(np.full(n, task["label"], np.int32)),
            "weight": pa.array(result["weight"]),
            "event_number": pa.array(result["event_number"]),
            "source_file": pa.array([task["path"]] * n, pa.string()),
            "entry": pa.array(task["entry_start"] + result["entry"], pa.int64()),
        }
    )
    return table, result["cutflow"]


def run_ingest(
    samples: list[dict],
    output: str,
    cutflow_path: str,
    spark_config: dict,
    threads: int,
    quirks: Quirks,
    events_per_task: int,
    remote: dict | None = None,
    log_dir: str = "logs/spark",
) -> dict:
    """Ingest all samples (dicts with sample, label, files) into the Parquet directory ``output``.

    Writes the per-class cutflow TSV; raises InputError (one line) for bad inputs, leaving no output.
    Returns the cutflow, the number of events read and the time of the Spark job (session start excluded).
    """
    from .core.spark import executor_error, on_every_slot, spark_session

    tasks = plan_tasks(samples, events_per_task, remote)
    groups = group_tasks(tasks, events_per_task)
    log.info("ingesting %d files of %d samples as %d Spark tasks", len({t["path"] for t in tasks}), len(samples), len(groups))
    with spark_session("dltrigger-ingest", spark_config, threads, log_dir) as spark, atomic_path(output) as temporary:
        os.makedirs(temporary)
        output_dir = executor_path(temporary)

        def compute(batches):
            for batch in batches:
                for group in batch.column("id").to_pylist():  # one row per Spark task
                    cutflows = ingest_ranges([tasks[i] for i in groups[group]], group, quirks, output_dir, remote)
                    counts = pa.array([[cutflow[cut] for cut in CUTS] for cutflow in cutflows], pa.list_(pa.int64()))
                    yield pa.RecordBatch.from_arrays([pa.array(groups[group], pa.int32()), counts], names=["task", "counts"])

        # One row per task, made in the JVM: a DataFrame from Python rows would add a Python stage per task.
        frame = spark.range(len(groups), numPartitions=len(groups))
        # The kernels compiled here (once per machine: cached), then loaded in every Python worker, so
        # that no task waits for them.
        kernels.warm_up()
        on_every_slot(spark, kernels.warm_up)
        started = time.time()
        try:
            # Only successful task attempts report: retried tasks are counted once.
            reports = frame.mapInArrow(compute, "task int, counts array<long>").collect()
        except Exception as exc:  # Spark wraps executor errors; bring ours back as one line
            raise executor_error(exc) from None
        seconds = time.time() - started
        table = np.zeros((len(samples), len(CUTS)), dtype=np.int64)
        not_finite = Counter()
        for report in reports:
            task = tasks[report["task"]]
            table[task["sample_index"]] += report["counts"]
            not_finite[task["path"]] += report["counts"][CUTS.index("read")] - report["counts"][CUTS.index("finite")]
        for path, dropped in not_finite.items():
            if dropped:
                log.warning("%s: %d events with NaN or inf inputs dropped (cutflow row 'finite')", path, dropped)
        for sample, row in zip(samples, table):
            if row[-1] == 0:
                raise InputError(f"sample '{sample['sample']}': no event passes the isolated-lepton selection ({row[0]} read)")
        open(os.path.join(temporary, "_SUCCESS"), "w").close()
        cutflow = write_cutflow(cutflow_path, samples, table, quirks)
        events_read = int(table[:, 0].sum())
        log.info("%d events read, %d selected, in %.1f s of Spark job time", events_read, int(table[:, -1].sum()), seconds)
    return {"cutflow": cutflow, "events_read": events_read, "job_seconds": seconds}


def write_cutflow(path: str, samples: list[dict], table: np.ndarray, quirks: Quirks) -> dict:
    """Events of each class surviving each cut, as TSV (rows: cuts, columns: classes)."""
    cuts = [cut for cut in CUTS if quirks.drop_empty_isolation_maps or cut != "isolation maps"]
    per_class = {label: Counter() for label in LABELS}
    for sample, row in zip(samples, table):
        per_class[sample["label"]].update(dict(zip(CUTS, row.tolist())))
    with atomic_path(path) as temporary, open(temporary, "w") as handle:
        handle.write("cut\t" + "\t".join(LABELS) + "\n")
        for cut in cuts:
            handle.write(cut + "\t" + "\t".join(str(per_class[label][cut]) for label in LABELS) + "\n")
    return {label: {cut: per_class[label][cut] for cut in cuts} for label in LABELS}
