"""Engine ``bigdl``: the original study's own, Intel BigDL 2.4 (Keras-style API, DistriOptimizer on Spark).

BigDL 2.4 needs Python <= 3.10, pyspark 3.1.3 and Java 11, which cannot share a process with the
workflow's Spark 4, so it lives in its own environment (``train.bigdl.environment``, built from its lock
by ``dltrigger.tools.environments``), and each training is a job in
that environment (``dltrigger.train.bigdl_job``) with its own Spark 3.1.3 context: local[workers] by default,
or the Spark 3.1 cluster of ``train.bigdl.master``. This module starts the job, bounds it by the timeout
and turns what it wrote into the outputs every engine writes (model, history, predictions, weights)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np

import dltrigger

from ..core.checkpoints import check_npz_checkpoint, load_npz_checkpoint
from ..core.errors import InputError
from ..core.registry import MODEL_FILES, REGISTRY
from ..core.schema import ID_COLUMNS, SHAPES
from ..tools.environments import MARKER
from .data import Dataset
from .process import BigDLJob, TrainingSpec, best_epoch, history_record, latest_checkpoint, learning_rate, weights_digest, write_predictions

MODEL_FILE = MODEL_FILES["bigdl"]
CHECKPOINT_SUFFIX = "npz"
USES_SPARK = False  # the job brings its own Spark 3.1.3; the workflow's Spark 4 session is not needed
check_checkpoint = check_npz_checkpoint


def job_spark_conf(memory: str) -> dict:
    """Settings of the job's Spark 3.1.3 context: as a local run of the workflow, the driver on 127.0.0.1
    without UI and without console progress bars (the job's output is the training log). A JVM out of
    memory exits (BigDL's threads would otherwise hang on) so the job fails with that error."""
    return {
        "spark.driver.memory": memory,
        "spark.executor.memory": memory,
        "spark.driver.extraJavaOptions": "-XX:+ExitOnOutOfMemoryError",
        "spark.driver.host": "127.0.0.1",
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
    }


def launch(spark, spec: TrainingSpec) -> dict:
    """Run the BigDL job on the spec's data and turn its files into the engine outputs; ``spark`` is unused."""
    environment = spec.bigdl["environment"]
    python = os.path.join(environment, "bin", "python")
    if not os.path.exists(os.path.join(environment, MARKER)):
        raise InputError(
            f"{environment}: the BigDL environment is not built (python -m dltrigger.tools.environments --environment {environment} --lock LOCK)"
        )
    staging = spec.staging_dir
    job = BigDLJob(
        **{key: getattr(spec, key) for key in ("model", "workers", "epochs", "patience", "batch_size", "seed")},
        **{key: getattr(spec, key) for key in ("train_dir", "validation_dir", "test_dir", "checkpoint_dir", "staging_dir")},
        inputs=list(REGISTRY[spec.model].inputs),
        shapes={name: list(shape) for name, shape in SHAPES.items()},
        learning_rates=[learning_rate(spec, epoch) for epoch in range(spec.epochs)],
        model_file=MODEL_FILE,
        master=spec.bigdl["master"] or f"local[{spec.workers}]",
        resume=latest_checkpoint(spec),
        spark_conf=job_spark_conf(spec.bigdl["memory"]),
    )
    spec_path = os.path.join(staging, "bigdl-spec.json")
    job.write(spec_path)
    source = os.path.dirname(os.path.dirname(os.path.abspath(dltrigger.__file__)))  # dltrigger for the job and its workers
    env = {**os.environ, "PYTHONPATH": source, "PYTHONNOUSERSITE": "1"}
    for variable in ("PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON", "SPARK_HOME", "JAVA_HOME", "PYTHONHOME"):  # the main environment's
        env.pop(variable, None)
    status = subprocess.run(
        [python, "-m", "dltrigger.train.bigdl_job", spec_path], env=env, stdout=sys.stdout, stderr=sys.stderr, timeout=spec.timeout_seconds
    ).returncode
    if status != 0:
        raise RuntimeError(f"the BigDL job exited with status {status}")
    with open(os.path.join(staging, "bigdl-result.json")) as handle:
        result = json.load(handle)
    history = [
        history_record(record["epoch"], record["learning_rate"], np.array(record["train"]), np.array(record["validation"]), record["seconds"])
        for record in result["history"]
    ]
    test = Dataset.open(spec.test_dir)
    ids = list(test.batches(0, test.rows, max(test.rows, 1), ("label", *ID_COLUMNS)))
    write_predictions(spec, 0, [np.load(os.path.join(staging, "probabilities.npy"))], ids)
    model_epoch = best_epoch(history) if spec.patience else len(history)
    weights, _, _ = load_npz_checkpoint(os.path.join(spec.checkpoint_dir, f"epoch-{model_epoch:03d}.{CHECKPOINT_SUFFIX}"))
    return {"history": history, "weights": [weights_digest(weights)], "parameters": result["parameters"]}
