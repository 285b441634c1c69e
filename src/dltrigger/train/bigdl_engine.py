"""Engine ``bigdl``: the original study's own, Intel BigDL 2.4 (Keras-style API, DistriOptimizer on Spark).

BigDL 2.4 needs Python <= 3.10, pyspark 3.1.3 and Java 11, which cannot share a process with the
workflow's Spark 4, so it lives in its own environment (``train.bigdl.environment``, default .venvs/bigdl,
built from envs/bigdl.lock by rule bigdl_env with ``build_environment``), and each training is a job in
that environment (``dltrigger.bigdl_job``) with its own Spark 3.1.3 context: local[workers] by default,
or the Spark 3.1 cluster of ``train.bigdl.master``. This module starts the job, bounds it by the timeout
and turns what it wrote into the outputs every engine writes (model, history, predictions, weights)."""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys

import numpy as np

import dltrigger

from ..ingest import InputError
from ..models import inputs_of
from . import SHAPES
from .data import ID_COLUMNS, Dataset
from .worker import (check_npz_checkpoint, history_record, latest_checkpoint, learning_rate, load_npz_checkpoint, weights_digest,
                     write_predictions)  # fmt: skip

MODEL_FILE = "model.bigdl"
CHECKPOINT_SUFFIX = "npz"
USES_SPARK = False  # the job brings its own Spark 3.1.3; the workflow's Spark 4 session is not needed
MARKER = "dltrigger-environment.json"
PYTHON_VERSION = (3, 10)
check_checkpoint = check_npz_checkpoint


def find_python(configured: str | None) -> str:
    """A Python 3.10 interpreter: ``train.bigdl.python`` if set, else python3.10 on PATH, else pyenv's."""
    if configured:
        candidates = [configured]
    else:
        pyenv_root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
        candidates = ["python3.10", *sorted(glob.glob(os.path.join(pyenv_root, "versions", "3.10.*", "bin", "python3.10")), reverse=True)]
    for candidate in candidates:
        path = shutil.which(candidate)
        if path and _version(path) == PYTHON_VERSION:
            return path
    if configured:
        raise InputError(f"train.bigdl.python: '{configured}' is not a Python {'.'.join(map(str, PYTHON_VERSION))} interpreter (BigDL 2.4 needs it)")
    raise InputError("train.bigdl.python: no Python 3.10 found for the BigDL engine (BigDL 2.4 runs on Python <= 3.10): "
                     "install one (`pyenv install 3.10`, or Debian/Ubuntu's python3.10) or set train.bigdl.python to its path")  # fmt: skip


def _version(python: str) -> tuple[int, int] | None:
    """The interpreter's (major, minor); None if it does not run (e.g. a pyenv shim of another version)."""
    try:
        done = subprocess.run([python, "-c", "import sys; print(*sys.version_info[:2])"], capture_output=True, text=True, timeout=30)
    except OSError:
        return None
    return tuple(map(int, done.stdout.split())) if done.returncode == 0 else None


def lock_digest(lock: str) -> str:
    with open(lock, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def is_built(environment: str, lock: str) -> bool:
    """The environment exists and was built from this very lock."""
    try:
        with open(os.path.join(environment, MARKER)) as handle:
            return json.load(handle)["lock_sha256"] == lock_digest(lock)
    except (OSError, ValueError, KeyError):
        return False


def build_environment(environment: str, lock: str, python: str | None) -> None:
    """Build the BigDL environment from ``lock``; its marker file (lock digest, interpreter) is written last,
    so a failed build leaves no marker and no half-built environment."""
    interpreter = find_python(python)
    if os.path.isdir(environment) and os.listdir(environment):
        if not os.path.exists(os.path.join(environment, "pyvenv.cfg")):  # never delete what is not an environment
            raise InputError(f"train.bigdl.environment: {environment} exists and is not a Python environment; choose another directory")
        shutil.rmtree(environment)
    try:
        subprocess.run([interpreter, "-m", "venv", environment], check=True)
        pip = [os.path.join(environment, "bin", "python"), "-m", "pip", "install", "--disable-pip-version-check", "--no-input"]
        # pyspark 3.1.3 has only a source release, built with the legacy setup.py without the wheel package.
        subprocess.run([*pip, "--quiet", "-r", lock], check=True)
    except (subprocess.CalledProcessError, OSError) as exc:
        shutil.rmtree(environment, ignore_errors=True)
        raise InputError(f"{lock}: building the BigDL environment {environment} with {interpreter} failed ({exc})") from None
    with open(os.path.join(environment, MARKER), "w") as handle:
        json.dump({"lock": os.path.basename(lock), "lock_sha256": lock_digest(lock), "base_python": interpreter}, handle, indent=2)


def job_spark_conf(memory: str) -> dict:
    """Settings of the job's Spark 3.1.3 context: as a local run of the workflow, the driver on 127.0.0.1
    without UI and without console progress bars (the job's output is the training log). A JVM out of
    memory exits (BigDL's threads would otherwise hang on) so the job fails with that error."""
    return {
        "spark.driver.memory": memory, "spark.executor.memory": memory, "spark.driver.extraJavaOptions": "-XX:+ExitOnOutOfMemoryError",
        "spark.driver.host": "127.0.0.1", "spark.driver.bindAddress": "127.0.0.1", "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
    }  # fmt: skip


def launch(spark, spec: dict) -> dict:
    """Run the BigDL job on the spec's data and turn its files into the engine outputs; ``spark`` is unused."""
    environment = spec["bigdl"]["environment"]
    python = os.path.join(environment, "bin", "python")
    if not os.path.exists(os.path.join(environment, MARKER)):
        raise InputError(f"{environment}: the BigDL environment is not built (rule bigdl_env, or dltrigger.train.bigdl_engine.build_environment)")
    staging = spec["staging_dir"]
    job = {
        **{key: spec[key] for key in ("model", "workers", "epochs", "batch_size", "seed", "train_dir", "test_dir", "checkpoint_dir", "staging_dir")},
        "inputs": list(inputs_of(spec["model"])), "shapes": {name: list(shape) for name, shape in SHAPES.items()},
        "learning_rates": [learning_rate(spec, epoch) for epoch in range(spec["epochs"])], "model_file": MODEL_FILE,
        "master": spec["bigdl"]["master"] or f"local[{spec['workers']}]", "resume": latest_checkpoint(spec),
        "spark_conf": job_spark_conf(spec["bigdl"]["memory"]),
    }  # fmt: skip
    spec_path = os.path.join(staging, "bigdl-spec.json")
    with open(spec_path, "w") as handle:
        json.dump(job, handle)
    source = os.path.dirname(os.path.dirname(os.path.abspath(dltrigger.__file__)))  # dltrigger for the job and its workers
    env = {**os.environ, "PYTHONPATH": source, "PYTHONNOUSERSITE": "1"}
    for variable in ("PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON", "SPARK_HOME", "JAVA_HOME", "PYTHONHOME"):  # the main environment's
        env.pop(variable, None)
    status = subprocess.run([python, "-m", "dltrigger.bigdl_job", spec_path], env=env, stdout=sys.stdout, stderr=sys.stderr,
                            timeout=spec["timeout_seconds"]).returncode  # fmt: skip
    if status != 0:
        raise RuntimeError(f"the BigDL job exited with status {status}")
    with open(os.path.join(staging, "bigdl-result.json")) as handle:
        result = json.load(handle)
    history = [history_record(record["epoch"], record["learning_rate"], np.array(record["train"]), np.array(record["validation"]), record["seconds"])
               for record in result["history"]]  # fmt: skip
    test = Dataset.open(spec["test_dir"])
    ids = list(test.batches(0, test.rows, max(test.rows, 1), ("label", *ID_COLUMNS)))
    write_predictions(spec, 0, [np.load(os.path.join(staging, "probabilities.npy"))], ids)
    weights, _, _ = load_npz_checkpoint(os.path.join(spec["checkpoint_dir"], f"epoch-{spec['epochs']:03d}.{CHECKPOINT_SUFFIX}"))
    return {"history": history, "weights": [weights_digest(weights)], "parameters": result["parameters"]}


def main(argv: list[str] | None = None) -> int:
    """``python -m dltrigger.train.bigdl_engine [--environment DIR] [--python P]``: build the environment
    unless it was built from the current lock (the test setup uses it, before the network-less tests)."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--environment", default=".venvs/bigdl")
    parser.add_argument("--lock", default="envs/bigdl.lock")
    parser.add_argument("--python", default=None)
    args = parser.parse_args(argv)
    if is_built(args.environment, args.lock):
        os.utime(os.path.join(args.environment, MARKER))  # newer than a re-checked-out lock, as Snakemake expects
        return 0
    try:
        print(f"dltrigger: building the BigDL environment {args.environment} from {args.lock}", file=sys.stderr)
        build_environment(args.environment, args.lock, args.python)
    except InputError as error:
        print(f"dltrigger: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
