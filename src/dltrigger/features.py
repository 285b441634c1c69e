"""Feature preparation (reference §B.6-7, §C): class balancing, train/test split, HLF min-max scaling with
Spark ML, particle rows sorted by decreasing dR to the lepton and standardised, shuffled training set.

Random choices (undersampling, split, shuffle) use a seeded hash of each event's (source file, entry):
unlike ``sample``/``randomSplit``, the result does not depend on how Spark partitions the data, so the
same config gives the same events in local mode and on any cluster.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import pyarrow as pa

from . import LABELS
from .ingest import HLF_NAMES, LLF_NAMES, N_ROWS, InputError, _list_array

log = logging.getLogger(__name__)
ETA, PHI = LLF_NAMES.index("Eta"), LLF_NAMES.index("Phi")


def sort_particles(llf: np.ndarray, n_particles: np.ndarray, quirks: bool) -> np.ndarray:
    """Rows of each event by decreasing dR to the lepton (row 0 as ingested), so the lepton comes last.

    Corrected: padding rows go after the real ones. Original: padding rows (eta = phi = 0) are sorted
    together with the particles by their dR to the lepton.
    """
    deta = llf[:, :, ETA] - llf[:, :1, ETA]
    dphi = (llf[:, :, PHI] - llf[:, :1, PHI] + np.pi) % (2 * np.pi) - np.pi
    distance = np.sqrt(deta**2 + dphi**2)
    if not quirks:
        distance[np.arange(N_ROWS)[None, :] >= n_particles[:, None]] = -1.0
    order = np.argsort(-distance, axis=1, kind="stable")  # stable like Python's sorted(reverse=True)
    return np.take_along_axis(llf, order[:, :, None], axis=1)


def standardise_per_event(llf: np.ndarray) -> np.ndarray:
    """Each event's 19 columns standardised over its 801 rows (sklearn's StandardScaler per event:
    population std, constant columns scaled by 1). Padding rows become non-zero: masking has no effect."""
    mean = llf.mean(axis=1, keepdims=True, dtype=np.float64)
    std = llf.std(axis=1, keepdims=True, dtype=np.float64)
    return ((llf - mean) / np.where(std > 0, std, 1.0)).astype(np.float32)


def standardise_global(llf: np.ndarray, n_particles: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """Real rows standardised with training-set statistics; padding rows stay zero (maskable)."""
    real = np.arange(N_ROWS)[None, :] < n_particles[:, None]
    scaled = (llf - mean) / np.where(std > 0, std, 1.0)
    return np.where(real[:, :, None], scaled, 0.0).astype(np.float32)


def _particles_of(batch: pa.RecordBatch) -> tuple[np.ndarray, np.ndarray]:
    n = batch.num_rows
    llf = batch.column("lfeatures").flatten().flatten().to_numpy().reshape(n, N_ROWS, len(LLF_NAMES))
    return llf, batch.column("n_particles").to_numpy()


def particle_moments(batches):
    """Per Arrow batch: count, sum and sum of squares of the 19 features over real particle rows."""
    for batch in batches:
        llf, n_particles = _particles_of(batch)
        real = llf[np.arange(N_ROWS)[None, :] < n_particles[:, None]].astype(np.float64)
        yield pa.RecordBatch.from_arrays(
            [
                pa.array([real.shape[0]], pa.int64()),
                _list_array(real.sum(0), len(LLF_NAMES), type=pa.float64()),
                _list_array((real**2).sum(0), len(LLF_NAMES), type=pa.float64()),
            ],
            names=["n", "sum", "sum2"],
        )


def prepare_batch(batch: pa.RecordBatch, quirks: bool, scaling: str, mean=None, std=None) -> pa.RecordBatch:
    """Training-ready columns of one Arrow batch: HLF_input, GRU_input, label, encoded_label, n_particles."""
    llf, n_particles = _particles_of(batch)
    llf = sort_particles(llf, n_particles, quirks)
    llf = standardise_per_event(llf) if scaling == "per_event" else standardise_global(llf, n_particles, mean, std)
    label = batch.column("label").to_numpy()
    n = batch.num_rows
    return pa.RecordBatch.from_arrays(
        [
            batch.column("HLF_input"),
            _list_array(llf, N_ROWS, len(LLF_NAMES)),
            pa.array(label, pa.int32()),
            _list_array(np.eye(len(LABELS), dtype=np.float32)[label], len(LABELS)),
            pa.array(n_particles, pa.int32()),
            batch.column("source_file"),
            batch.column("entry"),
        ],
        names=["HLF_input", "GRU_input", "label", "encoded_label", "n_particles", "source_file", "entry"],
    )


def prepared_schema():
    from pyspark.sql.types import ArrayType, FloatType, IntegerType, LongType, StringType, StructField, StructType

    return StructType(
        [
            StructField("HLF_input", ArrayType(FloatType())),
            StructField("GRU_input", ArrayType(ArrayType(FloatType()))),
            StructField("label", IntegerType()),
            StructField("encoded_label", ArrayType(FloatType())),
            StructField("n_particles", IntegerType()),
            StructField("source_file", StringType()),
            StructField("entry", LongType()),
        ]
    )


def uniform(seed: int, purpose: str):
    """A Spark column uniform in [0, 1): a seeded hash of the event's (source file, entry)."""
    from pyspark.sql import functions as F

    hashed = F.xxhash64(F.col("source_file"), F.col("entry"), F.lit(f"{seed}/{purpose}"))
    return hashed.bitwiseAND(F.lit(0x7FFFFFFFFFFFFFFF)) / F.lit(float(2**63))


def run_features(events: str, train_path: str, test_path: str, counts_path: str, spark_config: dict, threads: int,
                 seed: int, quirks: bool, scaling: str, test_fraction: float, log_dir: str = "logs/spark") -> dict:  # fmt: skip
    """Balance, split, scale and write the train and test Parquet directories; returns the row counts."""
    from pyspark.ml.feature import MinMaxScaler
    from pyspark.ml.functions import array_to_vector, vector_to_array
    from pyspark.sql import functions as F

    from .files import atomic_path, write_json
    from .spark import spark_session

    with spark_session("dltrigger-features", spark_config, threads, log_dir) as spark:
        frame = spark.read.parquet(events).select("hfeatures", "lfeatures", "n_particles", "label", "source_file", "entry")
        start = time.time()
        selected = {row["label"]: row["count"] for row in frame.groupBy("label").count().collect()}
        log.info("selected events per class %s (%.1f s)", selected, time.time() - start)
        for name, code in LABELS.items():
            if not selected.get(code):
                raise InputError(f"{events}: no selected events of class '{name}', cannot balance the classes")
        smallest = min(selected.values())
        # Undersample every class to the smallest one (the original: DataFrame.sample per class).
        keep = F.lit(False)
        for code, count in selected.items():
            keep = keep | ((F.col("label") == code) & (uniform(seed, "balance") < smallest / count))
        balanced = frame.where(keep).withColumn("u_split", uniform(seed, "split"))
        train = balanced.where(F.col("u_split") >= test_fraction)
        test = balanced.where(F.col("u_split") < test_fraction)

        # HLF min-max scaling with Spark ML, fitted on the training split (the original: on all events).
        vectors = (frame if quirks else train).select(array_to_vector("hfeatures").alias("h"))
        scaler = MinMaxScaler(inputCol="h", outputCol="scaled").fit(vectors)
        log.info("HLF min-max scaler fitted (%.1f s)", time.time() - start)
        mean = std = None
        if scaling == "global":
            moments = train.select("lfeatures", "n_particles").mapInArrow(particle_moments, "n long, sum array<double>, sum2 array<double>").collect()
            count = sum(row["n"] for row in moments)
            mean = np.sum([row["sum"] for row in moments], axis=0) / count
            std = np.sqrt(np.maximum(np.sum([row["sum2"] for row in moments], axis=0) / count - mean**2, 0.0))

        def prepare(split):
            scaled = scaler.transform(split.withColumn("h", array_to_vector("hfeatures")))
            columns = scaled.select(
                vector_to_array("scaled", "float32").alias("HLF_input"), "lfeatures", "n_particles", "label", "source_file", "entry"
            )
            return columns.mapInArrow(lambda batches: (prepare_batch(b, quirks, scaling, mean, std) for b in batches), prepared_schema())

        # Shuffle the training set (as the original's orderBy(rand)): rows go to partitions by a seeded hash
        # and are ordered by it within them; unlike orderBy, this needs no extra sampling pass.
        shuffle_key = uniform(seed, "shuffle")
        shuffled = train.repartition(spark_config["shuffle_partitions"], shuffle_key).sortWithinPartitions(shuffle_key)
        outputs = {"train": (prepare(shuffled), train_path), "test": (prepare(test), test_path)}
        counts = {"selected": {name: selected[code] for name, code in LABELS.items()}}
        for split, (data, path) in outputs.items():
            with atomic_path(path) as temporary:
                data.write.parquet(temporary)
                per_class = dict(spark.read.parquet(temporary).groupBy("label").count().collect())
            counts[split] = {name: per_class.get(code, 0) for name, code in LABELS.items()}
            log.info("%s written: %s (%.1f s)", split, counts[split], time.time() - start)
        counts["hlf_min"] = [float(v) for v in scaler.originalMin]
        counts["hlf_max"] = [float(v) for v in scaler.originalMax]
        counts["hlf_names"] = list(HLF_NAMES)
        counts["job_seconds"] = time.time() - start
        write_json(counts_path, counts)
    return counts
