"""Trigger stage: an exported selector run as a trigger on a stream of raw events, with Spark Structured
Streaming.

A replay drops Delphes-layout ROOT chunks of test-set events (never a training event) into a landing
directory at a configured rate. The streaming query reads each new chunk's bytes (file source; a Kafka
topic of chunks reads the same way), and in the executors reads it with the ingestion's reader, applies
the isolated-lepton selection and the features (``observables``, ``preprocess``: the batch stages' own
functions), scores the selected events with onnxruntime and applies the menu's thresholds. Each
micro-batch writes its accepted events and its metrics under its batch id, replacing what a killed
attempt of the same batch left: with Spark's checkpoint (which fixes the files of every planned batch)
no event is lost or written twice when the job is killed and started again.
"""

from __future__ import annotations

import glob
import hashlib
import io
import logging
import math
import os
import shutil
import threading
import time

import numpy as np
import pandas as pd
import pyarrow as pa

from ..core.arrays import arrow_lists, numpy_of_lists, take_ragged
from ..core.errors import InputError
from ..core.faults import interrupt_once
from ..core.files import atomic_path, executor_path, read_json, remove, write_json, write_parquet
from ..core.rates import binomial_error, output_rate
from ..core.schema import CLASSES
from ..models.onnx_models import onnx_session
from ..physics import kernels, observables
from ..physics.delphes import SCHEMA, read_delphes, write_delphes
from ..physics.preprocess import Preprocessing, network_sequences

log = logging.getLogger(__name__)

# One row per streamed chunk (kind "chunk") and one per selected event (kind "event"). A chunk's row
# says when an executor began it (``started``) and the CPU seconds its work took there (``executor_s``).
SCORED_SCHEMA = (
    "kind string, chunk string, arrival double, started double, executor_s double, events_read int, events_selected int, error string, "
    "entry long, event_number long, probabilities array<float>, fired array<boolean>"
)
PROVENANCE = "provenance.parquet"
# Selected events scored per onnxruntime call, grouped by length: a call's sequences are as long as its
# longest event, so small groups pad least (measured on the default test events, chunks of 500: 84 us per
# event in groups of 32, 94 in groups of 64, 128 in groups of 128).
SCORING_GROUP = 32
# A streamed chunk as Spark's binaryFile source reads it.
CHUNK_SCHEMA = "path string, modificationTime timestamp, length long, content binary"


def prepare_replay(test_dir: str, output_dir: str, events_per_chunk: int, seed: int) -> int:
    """Write the test-set events, read back from their raw ROOT files and shuffled (seeded), as chunks of
    ``events_per_chunk`` events in the Delphes layout, and ``provenance.parquet``: each chunk entry's
    source file, entry and class. Returns the number of chunks."""
    import awkward as ak
    import pyarrow.parquet as pq

    test = pq.read_table(test_dir, columns=["source_file", "entry", "label"]).to_pandas()
    if test.empty:
        raise InputError(f"{test_dir}: no test events to replay")
    test = test.sort_values(["source_file", "entry"], kind="stable").reset_index(drop=True)
    parts = []
    for source, events in test.groupby("source_file", sort=True):
        try:
            collections = read_delphes(source, SCHEMA)
        except Exception as exc:
            raise InputError(f"{source}: cannot be read for the replay ({type(exc).__name__}: {exc})") from None
        parts.append({name: collection[events.entry.to_numpy()] for name, collection in collections.items()})
    everything = {name: ak.concatenate([part[name] for part in parts]) for name in SCHEMA}
    order = np.random.default_rng(seed).permutation(len(test))
    with atomic_path(output_dir) as temporary:
        os.makedirs(temporary)
        rows = []
        for number, start in enumerate(range(0, len(order), events_per_chunk)):
            chosen = order[start : start + events_per_chunk]
            name = f"chunk-{number:06d}.root"
            write_delphes(os.path.join(temporary, name), {key: values[chosen] for key, values in everything.items()})
            rows.append(test.iloc[chosen].assign(chunk=name, chunk_entry=np.arange(chosen.size)))
        provenance = pd.concat(rows, ignore_index=True).rename(columns={"entry": "source_entry"})
        write_parquet(pa.Table.from_pandas(provenance, preserve_index=False), os.path.join(temporary, PROVENANCE))
    log.info("replay: %d test events in %d chunks of up to %d", len(test), len(rows), events_per_chunk)
    return len(rows)


def replay_copies(replay_dir: str, output_dir: str, copies: int) -> str:
    """The replay ``copies`` times over, each copy's chunks under other names (``copy<k>-chunk-...``) with
    their provenance: a stream long enough for steady state, from the same test events."""
    provenance = pd.read_parquet(os.path.join(replay_dir, PROVENANCE))
    with atomic_path(output_dir) as temporary:
        os.makedirs(temporary)
        for copy in range(copies):
            for name in provenance.chunk.unique():
                shutil.copyfile(os.path.join(replay_dir, name), os.path.join(temporary, f"copy{copy}-{name}"))
        frames = [provenance.assign(chunk=f"copy{copy}-" + provenance.chunk) for copy in range(copies)]
        write_parquet(pa.Table.from_pandas(pd.concat(frames, ignore_index=True), preserve_index=False), os.path.join(temporary, PROVENANCE))
    return output_dir


def check_menu(menu: dict, onnx_path: str, menu_path: str) -> None:
    """The exported graph must take exactly the inputs its menu describes: else one line, before any event."""
    inputs = {item.name: item.shape for item in onnx_session(onnx_path).get_inputs()}
    if sorted(inputs) != sorted(menu["inputs"]):
        raise InputError(f"{onnx_path}: takes inputs {', '.join(sorted(inputs))}; its menu {menu_path} says {', '.join(sorted(menu['inputs']))}")
    for name, width in menu["inputs"].items():
        if inputs[name][-1] != width:
            raise InputError(f"{onnx_path}: input {name} has {inputs[name][-1]} values per row; its menu {menu_path} says {width}")


_SESSIONS: dict = {}


def cached_session(onnx_path: str, threads: int):
    """The onnxruntime session of ``onnx_path`` in this Python worker, made once and reused by its later
    micro-batches."""
    if onnx_path not in _SESSIONS:
        _SESSIONS[onnx_path] = onnx_session(onnx_path, threads)
    return _SESSIONS[onnx_path]


def load_trigger(onnx_path: str, threads: int) -> None:
    """What a Python worker loads once: the selector's session and the compiled kernels of the event path."""
    cached_session(onnx_path, threads)
    kernels.warm_up()


def score_chunks(menu: dict, onnx_path: str, threads: int, schema: pa.Schema):
    """The executors' work on a micro-batch (``mapInArrow``): each streamed chunk read from its bytes,
    selected, featurised and scored; one row per chunk (an unreadable one: its error, nothing scored)
    and one per selected event."""
    preprocessing = Preprocessing.from_json(menu["preprocessing"], "the trigger menu")
    selectors = [CLASSES.index(path) for path in menu["paths"]]
    thresholds = np.array([path["threshold"] for path in menu["paths"].values()])  # float64, as the export's check

    def score(content: bytes) -> dict:
        events = observables.read(io.BytesIO(content), None, None)
        result = observables.compute(events, preprocessing.quirks)
        n = result["entry"].size
        out = {"read": result["cutflow"]["read"], "entry": result["entry"], "event_number": result["event_number"]}
        if not n:
            return {**out, "probabilities": np.zeros((0, len(CLASSES)), np.float32)}
        counts = result["n_particles"]
        rows, padding_row, padding_at = preprocessing.sequences(result["llf"], counts)
        hlf = preprocessing.scale_hlf(result["hlf"])
        probabilities = np.empty((n, len(CLASSES)), np.float32)
        # Events of similar length scored together: each group's sequences only as long as its longest.
        for group in np.array_split(np.argsort(counts, kind="stable"), -(-n // SCORING_GROUP)):
            feed = {"HLF_input": hlf[group]} if "HLF_input" in menu["inputs"] else {}
            if "GRU_input" in menu["inputs"]:
                feed["GRU_input"] = network_sequences(*take_ragged(rows, counts, group), padding_row[group], padding_at[group], menu["every_row"])
            probabilities[group] = cached_session(onnx_path, threads).run(None, feed)[0]
        return {**out, "probabilities": probabilities}

    def run(batches):
        for batch in batches:
            for chunk in batch.to_pylist():
                name, arrival = os.path.basename(chunk["path"]), chunk["modificationTime"].timestamp()
                timing = {"started": time.time(), "executor_s": -time.process_time()}
                try:
                    scored = score(chunk["content"])
                except Exception as exc:  # truncated or corrupt on arrival: reported, never scored
                    error = f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
                    yield pa.RecordBatch.from_pylist([{"kind": "chunk", "chunk": name, "arrival": arrival, "error": error}], schema=schema)
                    continue
                timing["executor_s"] += time.process_time()
                probabilities = scored["probabilities"]
                summary = {
                    "kind": "chunk",
                    "chunk": name,
                    "arrival": arrival,
                    **timing,
                    "events_read": scored["read"],
                    "events_selected": len(probabilities),
                }
                yield pa.RecordBatch.from_pylist([summary], schema=schema)
                n = len(probabilities)
                columns = {
                    "kind": pa.array(np.full(n, "event", dtype=object), pa.string()),
                    "chunk": pa.array(np.full(n, name, dtype=object), pa.string()),
                    "entry": pa.array(scored["entry"], pa.int64()),
                    "event_number": pa.array(scored["event_number"], pa.int64()),
                    "probabilities": arrow_lists(probabilities, len(CLASSES)),
                    "fired": arrow_lists(probabilities[:, selectors] >= thresholds, len(selectors), type=pa.bool_()),
                }
                yield pa.RecordBatch.from_arrays(
                    [columns[field.name] if field.name in columns else pa.nulls(n, field.type) for field in schema], schema=schema
                )

    return run


class Replay(threading.Thread):
    """Drops the replay's chunks into the landing directory at ``events_per_second`` (atomically: a chunk
    appears whole, its modification time its arrival). Chunks already there (a restarted stream) are not
    dropped again."""

    def __init__(self, replay_dir: str, landing_dir: str, events_per_second: float, events: pd.Series):
        super().__init__(daemon=True)
        self.replay_dir, self.landing_dir, self.events_per_second = replay_dir, landing_dir, events_per_second
        self.events = events  # per chunk name, in replay order
        self.stopping = threading.Event()

    def run(self) -> None:
        due = time.monotonic()
        for name, events in self.events.items():
            target = os.path.join(self.landing_dir, name)
            if os.path.exists(target):
                continue
            self.stopping.wait(max(0.0, due - time.monotonic()))
            if self.stopping.is_set():
                return
            hidden = os.path.join(self.landing_dir, f".{name}.landing")  # Spark skips dot files
            shutil.copyfile(os.path.join(self.replay_dir, name), hidden)
            os.utime(hidden)
            os.replace(hidden, target)
            due += events / self.events_per_second


def run_stream(
    menu_path: str,
    replay_dir: str,
    output_dir: str,
    spark_config: dict,
    threads: int,
    events_per_second: float,
    chunks_per_batch: int,
    timeout_seconds: float,
    log_dir: str = "logs/spark",
) -> dict:
    """Run the trigger on the replayed stream until every landed chunk is processed, in a Spark session of
    its own (``stream_on``)."""
    from ..core.spark import spark_session

    with spark_session("dltrigger-trigger", spark_config, threads, log_dir) as spark:
        return stream_on(spark, menu_path, replay_dir, output_dir, threads, events_per_second, chunks_per_batch, timeout_seconds)


def stream_on(
    spark, menu_path: str, replay_dir: str, output_dir: str, cores: int, events_per_second: float, chunks_per_batch: int, timeout_seconds: float
) -> dict:
    """Run the trigger on the replayed stream in ``spark`` until every landed chunk is processed. Writes, in
    ``output_dir``: ``accepted.parquet`` (accepted events, scores, the paths that fired, true class),
    ``stream_metrics.tsv`` (one row per micro-batch), ``latency.tsv`` (per chunk: arrival to sink commit)
    and ``stream.json`` (totals, latency and throughput in steady state and of the start-up batch,
    output rates in Hz). Its working state (landing directory, checkpoint, per-batch sink) survives a
    killed run, which resumes from it."""
    from ..core.spark import on_every_slot

    menu = read_json(menu_path)
    onnx_path = executor_path(os.path.join(os.path.dirname(menu_path), menu["onnx"]))
    check_menu(menu, onnx_path, menu_path)
    provenance = pd.read_parquet(os.path.join(replay_dir, PROVENANCE))
    work = _working_directory(output_dir, menu_path, onnx_path, replay_dir)
    landing, checkpoint, batches = (os.path.join(work, name) for name in ("landing", "checkpoint", "batches"))
    for directory in (landing, batches):
        os.makedirs(directory, exist_ok=True)
    replay = Replay(replay_dir, landing, events_per_second, provenance.groupby("chunk", sort=True).size())
    started = time.time()
    # Loaded in every task slot before the first chunk lands, as a trigger farm loads its menu before the
    # run: the first micro-batch's latency is then the trigger's, not the start-up's.
    kernels.warm_up()  # compiled here if this machine has not yet (cached)
    on_every_slot(spark, lambda: load_trigger(onnx_path, 1))
    chunks = (
        spark.readStream.format("binaryFile")
        .schema(CHUNK_SCHEMA)
        .option("pathGlobFilter", "*.root")
        .option("maxFilesPerTrigger", chunks_per_batch)
        .load(executor_path(landing))
    )
    from pyspark.sql.pandas.types import to_arrow_schema

    schema = to_arrow_schema(spark.createDataFrame([], SCORED_SCHEMA).schema)
    scored = chunks.mapInArrow(score_chunks(menu, onnx_path, 1, schema), SCORED_SCHEMA)
    commit = _committer(menu, provenance, batches)
    query = scored.writeStream.foreachBatch(commit).option("checkpointLocation", executor_path(checkpoint)).start()
    replay.start()
    try:
        _wait_for_every_chunk(query, replay, landing, batches, timeout_seconds)
    finally:
        replay.stopping.set()
        query.stop()
    summary = _write_outputs(menu, batches, output_dir, time.time() - started, cores, events_per_second)
    remove(work)  # kept only for a restart after a kill: a new run measures anew
    log.info(
        "trigger %s: %d chunks, %d events read, %d selected, %d accepted (%.0f Hz); steady state: latency p50 %.2f s, p99 %.2f s, "
        "%.0f events/s/core, %.3f ms per event in the executors; start-up batch: %.2f s",
        menu["model"],
        summary["chunks"],
        summary["events_read"],
        summary["selected"],
        summary["accepted"],
        summary["rate_hz"] or float("nan"),
        summary["latency_p50_s"],
        summary["latency_p99_s"],
        summary["events_per_second_per_core"],
        summary["executor_ms_per_event"],
        summary["first_batch_latency_s"],
    )
    return summary


def _working_directory(output_dir: str, *inputs: str) -> str:
    """The stream's working state, kept for a restart of the same trigger on the same replay only."""
    digest = hashlib.sha256()
    for path in inputs:
        for name in sorted(glob.glob(os.path.join(path, "*"))) if os.path.isdir(path) else [path]:
            digest.update(f"{os.path.basename(name)}:{os.path.getsize(name)}:{os.path.getmtime(name)}".encode())
    work = os.path.join(output_dir, f"work-{digest.hexdigest()[:12]}")
    for stale in glob.glob(os.path.join(output_dir, "work-*")):
        if stale != work:
            remove(stale)
    return work


def _committer(menu: dict, provenance: pd.DataFrame, batches: str):
    """foreachBatch: the micro-batch's accepted events and metrics written under its id, replacing those
    of an earlier attempt at the same batch (idempotent, hence exactly once with the checkpoint)."""
    truth = provenance[["chunk", "chunk_entry", "label"]].rename(columns={"chunk_entry": "entry"})

    def commit(frame, batch_id: int) -> None:
        import pyarrow.compute as pc

        begun = time.time()
        interrupt_once(f"stream-before-write-{batch_id}")
        rows = frame.toArrow()
        chunks = (
            rows.filter(pc.equal(rows.column("kind"), "chunk"))
            .select(["chunk", "arrival", "started", "executor_s", "events_read", "error"])
            .to_pandas()
        )
        events = rows.filter(pc.equal(rows.column("kind"), "event"))
        for chunk in chunks[chunks.error.notna()].itertuples():
            log.warning("%s: unreadable on arrival (%s); skipped", chunk.chunk, chunk.error)
        fired = numpy_of_lists(events.column("fired")).reshape(events.num_rows, len(menu["paths"]))
        accepted = events.filter(pa.array(fired.any(axis=1)))
        identity = accepted.select(["chunk", "entry"]).to_pandas()
        label = identity.merge(truth, on=["chunk", "entry"], how="left")["label"].to_numpy()
        probabilities = numpy_of_lists(accepted.column("probabilities")).reshape(accepted.num_rows, len(CLASSES))
        table = pa.table(
            {
                **{name: accepted.column(name) for name in ("chunk", "entry", "event_number")},
                **{f"prob_{name}": pa.array(probabilities[:, k]) for k, name in enumerate(CLASSES)},
                **{f"fired_{path}": pa.array(fired[fired.any(axis=1), k]) for k, path in enumerate(menu["paths"])},
                "label": pa.array(label, pa.int64()),
                "batch": pa.array(np.full(accepted.num_rows, batch_id), pa.int64()),
            }
        )
        write_parquet(table, os.path.join(batches, f"accepted-{batch_id:06d}.parquet"))
        committed = time.time()
        readable = chunks[chunks.error.isna()]
        read_by_class = np.bincount(provenance.label[provenance.chunk.isin(readable.chunk)], minlength=len(CLASSES))
        metrics = {
            "batch": batch_id,
            "begun": begun,
            "started": float(readable.started.min()) if len(readable) else begun,
            "committed": committed,
            "processing_s": committed - begun,
            "executor_s": float(readable.executor_s.sum()),
            "chunks": len(chunks),
            "corrupt": int(chunks.error.notna().sum()),
            "events_read": int(readable.events_read.sum()),
            "selected": events.num_rows,
            "accepted": accepted.num_rows,
            **{f"read_{name}": int(read_by_class[code]) for code, name in enumerate(CLASSES)},
            **{f"accepted_{name}": int((label == code).sum()) for code, name in enumerate(CLASSES)},
            "latency": dict(zip(chunks.chunk, committed - chunks.arrival)),
        }
        write_json(os.path.join(batches, f"batch-{batch_id:06d}.json"), metrics)
        interrupt_once(f"stream-after-write-{batch_id}")  # the sink written, Spark's commit of the batch not

    return commit


def _wait_for_every_chunk(query, replay: Replay, landing: str, batches: str, timeout_seconds: float) -> None:
    """Until the replay has dropped every chunk and every chunk in the landing directory is committed."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        if query.exception() is not None:
            raise RuntimeError(f"the streaming query failed: {query.exception()}")
        landed = {os.path.basename(path) for path in glob.glob(os.path.join(landing, "*.root"))}
        done = set()
        for path in glob.glob(os.path.join(batches, "batch-*.json")):
            done.update(read_json(path)["latency"])
        if not replay.is_alive() and landed <= done:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"trigger: {len(landed - done)} landed chunks not processed within {timeout_seconds:.0f} s (trigger.timeout_minutes)")
        time.sleep(0.2)


def _write_outputs(menu: dict, batches: str, output_dir: str, wall_seconds: float, cores: int, offered: float) -> dict:
    """The stream's results from its committed micro-batches (each once, by batch id)."""
    import pyarrow.parquet as pq

    metrics = pd.DataFrame([read_json(path) for path in sorted(glob.glob(os.path.join(batches, "batch-*.json")))])
    accepted = pa.concat_tables([pq.read_table(path) for path in sorted(glob.glob(os.path.join(batches, "accepted-*.parquet")))])
    latency = pd.DataFrame(
        [(batch, chunk, seconds) for batch, chunks in zip(metrics.batch, metrics.latency) for chunk, seconds in chunks.items()],
        columns=["batch", "chunk", "latency_s"],
    )
    per_batch = _per_batch(metrics, menu["class_rate_hz"])
    summary = _summary(menu, metrics, accepted.num_rows, latency, wall_seconds, cores, offered)
    order = np.lexsort((accepted.column("entry").to_numpy(), accepted.column("chunk").to_numpy(zero_copy_only=False)))
    write_parquet(accepted.take(order), os.path.join(output_dir, "accepted.parquet"))
    for frame, name in ((per_batch, "stream_metrics.tsv"), (latency, "latency.tsv")):
        with atomic_path(os.path.join(output_dir, name)) as temporary:
            frame.to_csv(temporary, sep="\t", index=False, float_format="%.6g")
    write_json(os.path.join(output_dir, "stream.json"), summary)
    return summary


def _per_batch(metrics: pd.DataFrame, class_rates: dict | None) -> pd.DataFrame:
    """One row per micro-batch: when it committed (from the first chunk's arrival), its counts, its
    chunks' latency percentiles and its output rate (each class's rate into the trigger times the
    fraction of its events in the batch accepted)."""
    first_arrival = min(committed - max(chunks.values()) for committed, chunks in zip(metrics.committed, metrics.latency))
    frame = metrics.assign(
        elapsed_s=metrics.committed - first_arrival,
        # Spark's own time between two micro-batches (planning, its offset and commit logs), and from the
        # batch's start to its first task.
        between_s=metrics.begun - metrics.committed.shift(1, fill_value=first_arrival),
        launch_s=metrics.started - metrics.begun,
        latency_p50_s=[np.percentile(list(chunks.values()), 50) for chunks in metrics.latency],
        latency_p99_s=[np.percentile(list(chunks.values()), 99) for chunks in metrics.latency],
    )
    counts = ["chunks", "corrupt", "events_read", "selected", "accepted", *(f"read_{n}" for n in CLASSES), *(f"accepted_{n}" for n in CLASSES)]
    columns = ["batch", "elapsed_s", "between_s", "launch_s", "processing_s", "executor_s", *counts, "latency_p50_s", "latency_p99_s"]
    if class_rates:
        frame["rate_hz"] = sum(
            (class_rates[name] * frame[f"accepted_{name}"] / frame[f"read_{name}"].where(frame[f"read_{name}"] > 0)).fillna(0.0) for name in CLASSES
        )
        columns.append("rate_hz")
    return frame[columns]


def _summary(menu: dict, metrics: pd.DataFrame, accepted: int, latency: pd.DataFrame, wall_seconds: float, cores: int, offered: float) -> dict:
    """The whole stream: counts, each class's efficiency and the output rate beside the menu's, the rate
    offered (raw events/s; None: every chunk at once), latency percentiles and throughput."""
    read = {name: int(metrics[f"read_{name}"].sum()) for name in CLASSES}
    passed = {name: int(metrics[f"accepted_{name}"].sum()) for name in CLASSES}
    class_rates = menu["class_rate_hz"]
    rate, rate_error, per_class = None, None, None
    if class_rates:
        rate, rate_error = output_rate([class_rates[name] for name in CLASSES], list(passed.values()), list(read.values()))
        per_class = {name: class_rates[name] * passed[name] / read[name] if read[name] else 0.0 for name in CLASSES}
    return {
        "model": menu["model"],
        "paths": list(menu["paths"]),
        "chunks": int(metrics.chunks.sum()),
        "corrupt_chunks": int(metrics.corrupt.sum()),
        "batches": len(metrics),
        "events_read": int(metrics.events_read.sum()),
        "selected": int(metrics.selected.sum()),
        "accepted": accepted,
        "read": read,
        "accepted_by_class": passed,
        "efficiency": {name: passed[name] / read[name] if read[name] else None for name in CLASSES},
        "efficiency_error": {name: float(binomial_error(passed[name], read[name])) for name in CLASSES},
        "expected_efficiency": menu["efficiency"],
        "rate_hz_by_class": per_class,
        "rate_hz": rate,
        "rate_hz_error": rate_error,
        "expected_rate_hz": menu["rate_hz"],
        "expected_rate_hz_error": menu["rate_hz_error"],
        "input_rate_hz": sum(class_rates.values()) if class_rates else None,
        "wall_seconds": wall_seconds,
        "cores": cores,
        "offered_events_per_second": offered if math.isfinite(offered) else None,
        **stream_timing(metrics, latency, cores),
    }


def stream_timing(metrics: pd.DataFrame, latency: pd.DataFrame, cores: int) -> dict:
    """Latency and throughput in steady state, the start-up batch (the run's first micro-batch: its
    chunks wait for Spark's first query plan and task launch) reported apart.

    ``latency_p50_s``/``latency_p99_s``: the later batches' chunks, arrival to sink commit.
    ``events_per_second_per_core``: raw events of the later batches per second from the first batch's
    commit to the last one's, per core: the offered rate where the stream keeps up, its capacity at
    saturation. ``executor_ms_per_event``: the executors' CPU per raw event of the later batches (read,
    selection, features, scoring). ``batch_overhead_s``: the median time a later micro-batch takes beyond
    its executors' work spread over the cores (Spark's planning, logs, task launch, collection, sink).
    With a single batch, all of these are the first batch's."""
    first = metrics.batch.min()
    later = metrics[metrics.batch != first] if len(metrics) > 1 else metrics
    steady = latency[latency.batch.isin(later.batch)]
    startup = latency[latency.batch == first]
    committed = metrics.committed.to_numpy()
    span = committed[-1] - committed[0] if len(metrics) > 1 else float(metrics.processing_s.sum())
    interval = np.diff(committed) if len(metrics) > 1 else metrics.processing_s.to_numpy()
    spread = later.executor_s.to_numpy() / np.minimum(later.chunks.to_numpy(), max(cores, 1))
    events = int(later.events_read.sum())
    return {
        "latency_p50_s": float(np.percentile(steady.latency_s, 50)),
        "latency_p99_s": float(np.percentile(steady.latency_s, 99)),
        "first_batch_latency_s": float(startup.latency_s.max()),
        "first_batch_events": int(metrics.events_read.iloc[0]),
        "events_per_second_per_core": events / span / max(cores, 1) if span > 0 else None,
        "executor_ms_per_event": float(later.executor_s.sum() / events * 1e3) if events else None,
        "batch_overhead_s": float(np.median(interval - spread)),
    }
