"""Feature preparation stage: class balancing, train/validation/test split, HLF min-max scaling with
Spark ML, particle rows sorted by decreasing dR to the lepton and standardised, shuffled training set.

Random choices (undersampling, split, shuffle) use a seeded hash of each event's (source file, entry):
unlike ``sample``/``randomSplit``, the result does not depend on how Spark partitions the data or on
task retries, so the same config gives the same events in local mode and on any cluster. The splits
hash (source file, event number) instead: copies of one generated event (QCD's redecays, the prescaled
events of the lepton veto) share it, so they all land on the same side and neither the validation nor
the test set sees the rest of a training event. The validation events are a fixed fraction of each
class's training events (those with the lowest validation numbers): training chooses its epochs on
them, and the test set is scored once, at the end.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from dataclasses import dataclass, replace

import numpy as np
import pyarrow as pa

from .core.arrays import arrow_lists, numpy_of_lists, numpy_of_ragged, ragged_lists, sequences_of, take_ragged
from .core.errors import InputError
from .core.files import write_parquet
from .core.schema import HLF_NAMES, LABELS, LLF_NAMES, N_ROWS
from .physics.preprocess import Preprocessing

log = logging.getLogger(__name__)
SPLITS = ("train", "validation", "test")


def uniforms(source_file, entry, seed: int, purpose: str) -> np.ndarray:
    """Numbers uniform in [0, 1) from a seeded hash of each event's (source file, entry): the same event
    gets the same number whatever the partitioning, executor or order of processing. A file counts by its
    name and its folder's (qcd/chunk_000.root): the same files give the same draws wherever they are read
    from (a relative path, a Snakemake storage copy, root://)."""
    files, inverse = np.unique(np.asarray(source_file, dtype=object), return_inverse=True)
    keys = ("/".join(name.rstrip("/").split("/")[-2:]) for name in files)
    digests = [hashlib.blake2b(f"{seed}/{purpose}/{key}".encode(), digest_size=8).digest() for key in keys]
    x = np.array([int.from_bytes(d, "little") for d in digests], dtype=np.uint64)[inverse]
    x = x + np.asarray(entry).astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    for shift, factor in ((30, 0xBF58476D1CE4E5B9), (27, 0x94D049BB133111EB)):  # splitmix64 finaliser
        x = (x ^ (x >> np.uint64(shift))) * np.uint64(factor)
    x = x ^ (x >> np.uint64(31))
    return (x >> np.uint64(11)).astype(np.float64) * 2.0**-53


@dataclass
class Plan:
    """Everything a task needs to prepare its events: the random decisions and the preprocessing (whose
    scalers are fitted on the training events, see run_features)."""

    seed: int
    keep_fraction: np.ndarray  # per class
    test_fraction: float
    buckets: int
    preprocessing: Preprocessing
    validation_below: np.ndarray | None = None  # per class: training events with a validation number below it validate

    def decide(self, label, source_file, entry, event_number) -> dict:
        keep = uniforms(source_file, entry, self.seed, "balance") < self.keep_fraction[label]
        test = uniforms(source_file, event_number, self.seed, "split") < self.test_fraction
        train = keep & ~test
        validation = np.zeros_like(train)
        if self.validation_below is not None:
            validation = train & (validation_numbers(source_file, event_number, self.seed) < self.validation_below[label])
        shuffle = uniforms(source_file, entry, self.seed, "shuffle")
        return {"train": train & ~validation, "validation": validation, "test": keep & test, "shuffle": shuffle}

    def training_candidates(self, label, source_file, entry, event_number) -> np.ndarray:
        """The balanced events outside the test set: the training and validation events together."""
        keep = uniforms(source_file, entry, self.seed, "balance") < self.keep_fraction[label]
        return keep & ~(uniforms(source_file, event_number, self.seed, "split") < self.test_fraction)


def validation_numbers(source_file, event_number, seed: int) -> np.ndarray:
    """Each event's number for the validation split (copies of one generated event share it)."""
    return uniforms(source_file, event_number, seed, "validation")


def validation_thresholds(labels: np.ndarray, numbers: np.ndarray, fraction: float) -> np.ndarray:
    """Per class, the validation number below which ``fraction`` of its training candidates lie (rounded
    to whole events): the same fraction of every class validates, and the rest trains."""
    thresholds = np.zeros(len(LABELS))
    for code in range(len(LABELS)):
        ranked = np.sort(numbers[labels == code])
        take = int(round(fraction * ranked.size))
        thresholds[code] = 1.0 if take >= ranked.size else ranked[take] if take > 0 else 0.0
    return thresholds


def _candidate_numbers(plan: Plan):
    """(label, validation number) of the events ``plan`` puts in training or validation (Arrow batches)."""

    def select(batches):
        for batch in batches:
            columns = [batch.column(name).to_numpy(zero_copy_only=False) for name in ("label", "source_file", "entry", "event_number")]
            chosen = plan.training_candidates(*columns)
            numbers = validation_numbers(columns[1][chosen], columns[3][chosen], plan.seed)
            yield pa.RecordBatch.from_arrays([pa.array(columns[0][chosen], pa.int32()), pa.array(numbers)], names=["label", "number"])

    return select


def _training_hlf(plan: Plan):
    """The 14 HLF of the events ``plan`` puts in the training split (Arrow batches in, Arrow batches out)."""

    def select(batches):
        for batch in batches:
            columns = (batch.column(name).to_numpy(zero_copy_only=False) for name in ("label", "source_file", "entry", "event_number"))
            yield pa.RecordBatch.from_arrays([batch.column("hfeatures").filter(pa.array(plan.decide(*columns)["train"]))], names=["hfeatures"])

    return select


def read_particles(table: pa.Table, path: str) -> tuple[np.ndarray, np.ndarray]:
    """The ingested particle rows of a table, grouped by event, and their number per event; a column that
    does not hold whole 19-value rows, or rows other than ``n_particles`` says, is named in one line."""
    try:
        rows, counts = numpy_of_ragged(table.column("lfeatures"), len(LLF_NAMES))
    except ValueError as exc:
        raise InputError(f"{path}: column lfeatures: {exc}") from None
    mismatch = np.flatnonzero(counts != table.column("n_particles").to_numpy())
    if mismatch.size:
        row = int(mismatch[0])
        raise InputError(f"{path}: column lfeatures: row {row} holds {counts[row]} particles, n_particles says {table.column('n_particles')[row]}")
    return rows, counts


def prepare_part(part: str, index: int, plan: Plan, held_out_dirs: dict, stage_dir: str) -> dict:
    """Heavy pass over one ingested Parquet file (pyarrow, numpy): scale, sort, standardise; write its test
    and validation events, and its training events, in the order of their shuffle number, into shuffle
    buckets. Returns events written per split and class."""
    import pyarrow.parquet as pq

    table = pq.read_table(part, columns=["hfeatures", "lfeatures", "n_particles", "label", "source_file", "entry", "event_number"])
    label = table.column("label").to_numpy()
    entry = table.column("entry").to_numpy()
    files = table.column("source_file").to_numpy(zero_copy_only=False)
    decision = plan.decide(label, files, entry, table.column("event_number").to_numpy())
    all_rows, all_counts = read_particles(table, part)
    all_hlf = numpy_of_lists(table.column("hfeatures"))
    written = {}
    for split in SPLITS:
        events = np.flatnonzero(decision[split])
        written[split] = np.bincount(label[events], minlength=len(LABELS)).tolist()
        if not events.size:
            continue
        if split == "train":
            events = events[np.argsort(decision["shuffle"][events], kind="stable")]
        rows, n_particles = take_ragged(all_rows, all_counts, events)
        sequence, padding_row, padding_at = plan.preprocessing.sequences(rows, n_particles)
        out = pa.table(
            {
                "HLF_input": arrow_lists(plan.preprocessing.scale_hlf(all_hlf[events]), len(HLF_NAMES)),
                "GRU_input": ragged_lists(sequence, n_particles),
                "padding_row": arrow_lists(padding_row, len(LLF_NAMES)),
                "padding_at": pa.array(padding_at, pa.int32()),
                "n_particles": pa.array(n_particles, pa.int32()),
                "label": pa.array(label[events], pa.int32()),
                "encoded_label": arrow_lists(np.eye(len(LABELS), dtype=np.float32)[label[events]], len(LABELS)),
                **{name: table.column(name).take(events) for name in ("source_file", "entry", "event_number")},
            }
        )
        if split != "train":
            write_parquet(out, f"{held_out_dirs[split]}/part-{index:05d}.parquet")
            continue
        shuffle = decision["shuffle"][events]
        out = out.append_column("shuffle", pa.array(shuffle))
        bounds = np.searchsorted(shuffle * plan.buckets, np.arange(plan.buckets + 1))
        bounds[-1] = events.size
        for bucket in np.flatnonzero(np.diff(bounds)):
            # Staging in Arrow IPC: read back once, so Parquet's encoding is not worth its cost here.
            os.makedirs(f"{stage_dir}/bucket-{bucket:05d}", exist_ok=True)
            with pa.OSFile(f"{stage_dir}/bucket-{bucket:05d}/part-{index:05d}.arrow", "wb") as sink:
                part = out.slice(bounds[bucket], bounds[bucket + 1] - bounds[bucket])
                with pa.ipc.new_file(sink, part.schema) as writer:
                    writer.write_table(part)
    return written


def shuffle_bucket(stage_dir: str, bucket: int, train_dir: str) -> None:
    """Second pass of the training set's shuffle: one bucket's events in the order of their shuffle number."""
    source = f"{stage_dir}/bucket-{bucket:05d}"
    if os.path.isdir(source):
        parts = []
        for name in sorted(os.listdir(source)):
            with pa.memory_map(os.path.join(source, name)) as stream:
                parts.append(pa.ipc.open_file(stream).read_all())
        table = pa.concat_tables(parts)
        order = np.argsort(table.column("shuffle").to_numpy(), kind="stable")
        write_parquet(table.take(order).drop_columns(["shuffle"]), f"{train_dir}/part-{bucket:05d}.parquet")


def run_features(
    events: str,
    outputs: dict,
    spark_config: dict,
    threads: int,
    seed: int,
    preprocessing: Preprocessing,
    test_fraction: float,
    validation_fraction: float,
    log_dir: str = "logs/spark",
) -> dict:
    """Balance, split, scale and write the train, validation and test Parquet directories (``outputs``: a
    path per split, and the ``counts`` and ``preprocessing`` JSON files); returns the row counts. The
    ``preprocessing``'s modes are applied with its scalers fitted on the training events. With
    ``quirks.test_set_validates`` (the original) no events validate: the validation directory stays
    empty and the training validates on the test set.

    Spark handles the light columns (class counts, the validation thresholds, the HLF min-max scaler with
    Spark ML) and schedules the heavy passes; those read and write the particle rows with pyarrow inside
    the tasks, which avoids Spark's row-by-row conversion of nested arrays (~10x the cost of the numpy work).
    """
    from .core.files import write_json
    from .core.spark import spark_session

    with spark_session("dltrigger-features", spark_config, threads, log_dir) as spark:
        start = time.time()
        source = spark.read.parquet(events)
        selected = {row["label"]: row["count"] for row in source.groupBy("label").count().collect()}
        for name, code in LABELS.items():
            if not selected.get(code):
                raise InputError(f"{events}: no selected events of class '{name}', cannot balance the classes")
        # Undersample every class to the smallest one (the original: DataFrame.sample per class).
        keep_fraction = np.array([min(selected.values()) / selected[code] for code in range(len(LABELS))])
        plan = Plan(seed, keep_fraction, test_fraction, spark_config["shuffle_partitions"], preprocessing)
        parts = [(part, index) for index, part in enumerate(sorted(source.inputFiles()))]
        plan = _fitted(spark, plan, source.select("label", "hfeatures", "source_file", "entry", "event_number"), parts, validation_fraction)
        log.info(
            "classes %s balanced to %d each, validation split and scalers fitted (%.1f s)", selected, min(selected.values()), time.time() - start
        )
        written = _write_splits(spark, plan, parts, outputs)
        counts = {"selected": {name: selected[code] for name, code in LABELS.items()}}
        for split in SPLITS:
            totals = np.sum([row[split] for row in written], axis=0)
            counts[split] = {name: int(totals[code]) for name, code in LABELS.items()}
        counts["validation_set"] = "test" if preprocessing.quirks.test_set_validates else "validation"
        counts["hlf_names"] = list(HLF_NAMES)
        counts["job_seconds"] = time.time() - start
        log.info("train %s, validation %s, test %s written (%.1f s)", counts["train"], counts["validation"], counts["test"], counts["job_seconds"])
        plan.preprocessing.write(outputs["preprocessing"])
        write_json(outputs["counts"], counts)
    return counts


def _run_tasks(spark, items: list, function, schema: str) -> list:
    """``function`` of each (item, index) in Spark tasks, a few items per task (each Spark task costs
    ~0.1 s, more than a small Parquet part's work); its rows collected."""
    from .core.spark import executor_error

    slices = max(1, min(len(items), 2 * spark.sparkContext.defaultParallelism))
    frame = spark.createDataFrame(spark.sparkContext.parallelize(items, slices), "item string, index int")
    try:
        return frame.mapInArrow(lambda batches: (function(row) for b in batches for row in b.to_pylist()), schema).collect()
    except Exception as exc:  # Spark wraps executor errors; bring ours back as one line
        raise executor_error(exc) from None


def _fitted(spark, plan: Plan, light, parts: list, validation_fraction: float) -> Plan:
    """``plan`` with its validation thresholds and its preprocessing's scalers fitted on the training events:
    the HLF min-max scaler with Spark ML (the original: on all events), the particle rows' moments where
    the scaling is global."""
    from pyspark.ml.feature import MinMaxScaler
    from pyspark.ml.functions import array_to_vector

    preprocessing = plan.preprocessing
    if not preprocessing.quirks.test_set_validates:
        numbers = light.mapInArrow(_candidate_numbers(plan), "label int, number double").toArrow()
        below = validation_thresholds(numbers.column("label").to_numpy(), numbers.column("number").to_numpy(), validation_fraction)
        plan = replace(plan, validation_below=below)
    fit_on = (
        light.select("hfeatures")
        if preprocessing.quirks.scaler_fitted_before_split
        else light.mapInArrow(_training_hlf(plan), "hfeatures array<float>")
    )
    scaler = MinMaxScaler(inputCol="h", outputCol="scaled").fit(fit_on.select(array_to_vector("hfeatures").alias("h")))
    preprocessing = preprocessing.fitted(hlf_min=scaler.originalMin.toArray(), hlf_max=scaler.originalMax.toArray())
    if preprocessing.particle_scaling == "global":
        moments = _run_tasks(spark, parts, lambda row: _part_moments(row["item"], plan), "n long, sum array<double>, sum2 array<double>")
        count = sum(row["n"] for row in moments)
        mean = np.sum([row["sum"] for row in moments], axis=0) / count
        std = np.sqrt(np.maximum(np.sum([row["sum2"] for row in moments], axis=0) / count - mean**2, 0.0))
        preprocessing = preprocessing.fitted(particle_mean=mean, particle_std=std)
    return replace(plan, preprocessing=preprocessing)


def _write_splits(spark, plan: Plan, parts: list, outputs: dict) -> list:
    """Every part's events prepared into the split directories (each complete or absent), the training
    events by shuffle bucket, then merged; the events written per part, split and class."""
    import contextlib

    from .core.files import atomic_path, executor_path, remove

    stage_dir = executor_path(f"{outputs['train']}.stage-{os.getpid()}")  # absolute paths for the executors
    with contextlib.ExitStack() as stack:
        directories = {split: executor_path(stack.enter_context(atomic_path(outputs[split]))) for split in SPLITS}
        for directory in (*directories.values(), stage_dir):
            os.makedirs(directory)

        def heavy(row):
            written = prepare_part(row["item"], row["index"], plan, directories, stage_dir)
            return pa.RecordBatch.from_arrays([pa.array([written[split]]) for split in SPLITS], names=list(SPLITS))

        written = _run_tasks(spark, parts, heavy, ", ".join(f"{split} array<long>" for split in SPLITS))
        _run_tasks(spark, [("", b) for b in range(plan.buckets)], lambda row: _shuffled(stage_dir, row["index"], directories["train"]), "done int")
        for directory in directories.values():
            open(os.path.join(directory, "_SUCCESS"), "w").close()
        remove(stage_dir)
    return written


def particle_moments(rows: np.ndarray) -> pa.RecordBatch:
    """Count, sum and sum of squares of the 19 features over real particle rows."""
    rows = rows.astype(np.float64)
    return pa.RecordBatch.from_arrays(
        [
            pa.array([rows.shape[0]], pa.int64()),
            arrow_lists(rows.sum(0), len(LLF_NAMES), type=pa.float64()),
            arrow_lists((rows**2).sum(0), len(LLF_NAMES), type=pa.float64()),
        ],
        names=["n", "sum", "sum2"],
    )


def _part_moments(part: str, plan: Plan) -> pa.RecordBatch:
    import pyarrow.parquet as pq

    columns = ["label", "source_file", "entry", "event_number"]
    table = pq.read_table(part, columns=["lfeatures", "n_particles", *columns])
    decision = plan.decide(*(table.column(name).to_numpy(zero_copy_only=False) for name in columns))
    rows, counts = read_particles(table, part)
    return particle_moments(take_ragged(rows, counts, np.flatnonzero(decision["train"]))[0])


def _shuffled(stage_dir: str, bucket: int, train_dir: str) -> pa.RecordBatch:
    shuffle_bucket(stage_dir, bucket, train_dir)
    return pa.RecordBatch.from_arrays([pa.array([bucket], pa.int32())], names=["done"])


def export_part(part: str, output_dir: str) -> int:
    """One feature Parquet file in the original study's published schema (as its
    ``*Undersampled_InclusiveClassifier.parquet``): ``HLF_input`` (14), ``GRU_input`` (the 801 x 19
    sequence flattened to 15,219 values), ``encoded_label`` (3), all doubles as the original wrote
    them, and ``label``. Returns the events written."""
    import pyarrow.parquet as pq

    table = pq.read_table(part, columns=["HLF_input", "GRU_input", "padding_row", "padding_at", "encoded_label", "label"])
    sequences = sequences_of(table, N_ROWS, len(LLF_NAMES)).astype(np.float64)
    out = pa.table(
        {
            "HLF_input": arrow_lists(numpy_of_lists(table.column("HLF_input")).astype(np.float64), len(HLF_NAMES), type=pa.float64()),
            "GRU_input": arrow_lists(sequences, N_ROWS * len(LLF_NAMES), type=pa.float64()),
            "encoded_label": arrow_lists(numpy_of_lists(table.column("encoded_label")).astype(np.float64), len(LABELS), type=pa.float64()),
            "label": table.column("label"),
        }
    )
    write_parquet(out, os.path.join(output_dir, os.path.basename(part)))
    return table.num_rows


def run_export(features_dirs: dict, outputs: dict, spark_config: dict, threads: int, log_dir: str = "logs/spark") -> dict:
    """Write feature directories (``{"train": dir, ...}``) in the original's published schema, one Spark
    task per Parquet file; ``outputs`` names the directory of each. Returns the events per directory."""
    import glob

    from .core.files import atomic_path, executor_path
    from .core.spark import executor_error, spark_session

    written = {}
    with spark_session("dltrigger-export", spark_config, threads, log_dir) as spark:
        for split, source in features_dirs.items():
            parts = [executor_path(path) for path in sorted(glob.glob(os.path.join(source, "part-*.parquet")))]
            with atomic_path(outputs[split]) as temporary:
                os.makedirs(temporary)
                target = executor_path(temporary)
                rdd = spark.sparkContext.parallelize(parts, max(1, len(parts)))
                try:
                    written[split] = sum(rdd.map(lambda path, target=target: export_part(path, target)).collect())
                except Exception as exc:  # Spark wraps executor errors; bring ours back as one line
                    raise executor_error(exc) from None
                open(os.path.join(temporary, "_SUCCESS"), "w").close()
            log.info("%s: %d events in the original's schema written to %s", split, written[split], outputs[split])
    return written
