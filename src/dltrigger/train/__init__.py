"""Training stage: one classifier trained data-parallel on Spark by the configured engine
(``torch``: TorchDistributor; ``keras``: tf-keras MultiWorkerMirroredStrategy in a barrier stage).

The driver checks the inputs, picks up the checkpoints of an interrupted identical run, launches the
training processes as one Spark barrier stage bounded by a timeout, and moves the outputs into place
only when all of them are complete.
"""

from __future__ import annotations

import contextlib
import csv
import glob
import hashlib
import importlib
import json
import logging
import os
import subprocess
import threading
import time
from dataclasses import asdict, replace

import numpy as np

from ..core.errors import InputError, first_error_line
from ..core.files import atomic_path, remove, write_json
from ..core.registry import REGISTRY, member_histories, model_setting
from ..core.schema import LABELS
from .data import Dataset
from .process import TrainingSpec, best_epoch, latest_checkpoint

log = logging.getLogger(__name__)
PURPOSE = {"train": "train on", "validation": "validate", "test": "score"}


def engine_module(engine: str):
    return importlib.import_module(f"{__name__}.{engine}_engine")


def check_data(model: str, directories: dict) -> dict:
    """The feature directories (train, validation, test) hold events of every class with the input widths
    the model expects."""
    datasets = {}
    for split, directory in directories.items():
        data = Dataset.open(directory)
        if not data.rows:
            raise InputError(f"{directory}: no events to {PURPOSE[split]}")
        data.check((*REGISTRY[model].inputs, "label"))
        datasets[split] = data
    train = datasets["train"]
    labels = np.concatenate([batch["label"] for batch in train.batches(0, train.rows, 1 << 16, ("label",))])
    missing = [name for name, code in LABELS.items() if not (labels == code).any()]
    if missing:
        raise InputError(f"{train.directory}: no training events of class {', '.join(missing)}; the classifier needs all {len(LABELS)}")
    return datasets


def particle_moments(model: str, preprocessing_path: str | None) -> dict | None:
    """The training rows' global particle scaling (mean, std), for a model that undoes it (else none)."""
    # Imported here: the BigDL job imports this package in an environment without the physics' awkward.
    from ..physics.preprocess import Preprocessing

    if not REGISTRY[model].undoes_particle_scaling:
        return None
    moments = None if preprocessing_path is None else Preprocessing.read(preprocessing_path).particle_moments
    if moments is None:
        raise InputError(
            f"{preprocessing_path or 'features.external'}: no global particle scaling; {model} computes its pair features from the "
            "unscaled momenta, so it needs the feature preparation's preprocessing.json with features.particle_scaling: global"
        )
    return moments


def fingerprint(spec: TrainingSpec, datasets) -> str:
    """What a checkpoint must share with this run to be resumed: the training settings and the data files.
    The number of epochs only where the learning rate's schedule depends on it (cosine): a longer run of
    the constant schedule continues a shorter one's epochs."""
    settings = {
        key: getattr(spec, key)
        for key in (
            "engine",
            "model",
            "workers",
            "batch_size",
            "learning_rate",
            "learning_rate_schedule",
            "seed",
            "device",
            "length_buckets",
            "particle_cloud",
            "particle_moments",
        )
    }
    if spec.learning_rate_schedule == "cosine":
        settings["epochs"] = spec.epochs
    files = [(os.path.basename(path), os.path.getsize(path), os.path.getmtime(path)) for data in datasets for path, _ in data.parts]
    return hashlib.sha256(json.dumps([settings, files], sort_keys=True).encode()).hexdigest()[:16]


def run_training(
    model: str,
    train_dir: str,
    validation_dir: str,
    test_dir: str,
    output_dir: str,
    settings: dict,
    spark_config: dict,
    threads: int,
    seed: int,
    preprocessing_path: str | None = None,
    log_dir: str = "logs/spark",
) -> list[dict]:
    """Train ``model`` and write into ``output_dir``: the model file, history.csv/.json, predictions.parquet
    (of the test events, scored once after the training) and training_config.json. An ensemble
    (``settings["ensemble"]`` > 1, torch engine) trains its members one after the other in the same
    processes; its predictions are their probabilities averaged, its history has a ``member`` column.
    A model that undoes the particle scaling reads its numbers from ``preprocessing_path`` (the feature preparation's). Each epoch is
    validated on ``validation_dir``; early stopping (``settings["early_stopping"]``) needs it apart from
    the test set. Per-epoch checkpoints go to ``output_dir``/checkpoints/<fingerprint>/ and survive a
    failed run, which then resumes from the last complete epoch. Returns the history."""
    from ..core.spark import spark_session

    engine = engine_module(settings["engine"])
    directories = {"train_dir": train_dir, "validation_dir": validation_dir, "test_dir": test_dir}
    datasets = check_data(model, {"train": train_dir, "validation": validation_dir, "test": test_dir})
    spec, key = _resumable_spec(model, settings, directories, seed, preprocessing_path, datasets, output_dir)
    resume = latest_checkpoint(spec)
    if resume:
        engine.check_checkpoint(resume[1])
    timeout = spec.timeout_seconds
    outputs = (engine.MODEL_FILE, "predictions.parquet", "history.csv", "history.json", "training_config.json")
    uses_spark = getattr(engine, "USES_SPARK", True)
    session = spark_session(f"dltrigger-train-{spec.engine}-{model}", spark_config, threads, log_dir) if uses_spark else contextlib.nullcontext()
    with session as spark, staged_outputs(output_dir, outputs) as staging:
        slots = spark.sparkContext.defaultParallelism if spark else spec.workers
        if spec.workers > slots:
            raise InputError(
                f"train.workers: {spec.workers} training processes, but Spark offers {slots} task slots (master {spark.sparkContext.master})"
            )
        spec = replace(spec, staging_dir=os.path.abspath(staging))
        log.info(
            "training %s with engine %s%s: %d workers x %d events/batch, at most %d epochs%s, %d train / %d validation / %d test events%s",
            model,
            spec.engine,
            f" (an ensemble of {spec.members}, seeds {spec.seed} to {spec.seed + spec.members - 1})" if spec.members > 1 else "",
            spec.workers,
            spec.batch_size,
            spec.epochs,
            f" (early stopping after {spec.patience} without a lower validation loss)" if spec.patience else "",
            datasets["train"].rows,
            datasets["validation"].rows,
            datasets["test"].rows,
            f", resuming after epoch {resume[0]}" if resume else "",
        )
        result = _bounded(spark, lambda: engine.launch(spark, spec), timeout, f"training of {model} ({spec.engine})", staging, settings["restarts"])
        history = result["history"]
        _write_history(history, os.path.join(staging, "history.csv"), os.path.join(staging, "history.json"))
        members = [
            {"seed": spec.seed + member, "epochs_run": len(records), "model_epoch": best_epoch(records) if spec.patience else len(records)}
            for member, records in enumerate(member_histories(history))
        ]
        used = {
            **asdict(spec),
            "fingerprint": key,
            **{f"{split}_events": data.rows for split, data in datasets.items()},
            **{name: members[0][name] for name in ("epochs_run", "model_epoch")},  # the configured seed's training
            "ensemble": members,
            "final_weights_sha256": result["weights"],
            **({"trainable_parameters": result["parameters"]} if "parameters" in result else {}),
        }
        write_json(os.path.join(staging, "training_config.json"), used)
    return history


def _resumable_spec(model: str, settings: dict, directories: dict, seed: int, preprocessing_path, datasets: dict, output_dir: str):
    """The job's TrainingSpec with its checkpoint folder, and its fingerprint. Checkpoints of other
    settings or data are never resumable: removed. The test set validates with the original's quirk:
    then no early stopping."""
    patience = model_setting(settings["early_stopping"]["patience"], model)
    if patience and os.path.abspath(directories["validation_dir"]) == os.path.abspath(directories["test_dir"]):
        log.info("the test set validates (the original's quirk): no early stopping, all %d epochs run", settings["epochs"][model])
        patience = 0
    spec = TrainingSpec.from_config(model, settings, directories, seed, patience, particle_moments(model, preprocessing_path))
    key = fingerprint(spec, datasets.values())
    checkpoints = os.path.join(output_dir, "checkpoints")
    for stale in glob.glob(os.path.join(checkpoints, "*")):
        if os.path.basename(stale) != key:
            remove(stale)
    return replace(spec, checkpoint_dir=os.path.abspath(os.path.join(checkpoints, key))), key


@contextlib.contextmanager
def staged_outputs(output_dir: str, names):
    """A staging folder in ``output_dir`` for a training's outputs ``names``: each moved into place
    atomically when the block succeeds, the folder removed in any case (and those a killed run left)."""
    for stale in glob.glob(os.path.join(output_dir, ".staging-*")):
        remove(stale)
    staging = os.path.join(output_dir, f".staging-{os.getpid()}")
    os.makedirs(staging)
    try:
        yield staging
        for name in names:
            with atomic_path(os.path.join(output_dir, name)) as temporary:
                os.replace(os.path.join(staging, name), temporary)
    finally:
        remove(staging)


def _bounded(spark, function, seconds: float, what: str, staging: str, restarts: int = 0):
    """Run a training launch; cancel its Spark jobs and fail with one line if all attempts together take
    longer than ``seconds``. A failed launch (a training process or executor died) is started again up
    to ``restarts`` times: each launch resumes from the last complete epoch's checkpoint. Bad inputs and
    timeouts are final. Without a session (an engine with its own process, bounded by the engine) only
    the errors are made one line."""
    expired, timer = threading.Event(), None
    if spark is not None:
        context = spark.sparkContext
        group = f"dltrigger-{os.getpid()}-{time.time_ns()}"
        context.setJobGroup(group, what, interruptOnCancel=True)
        timer = threading.Timer(seconds, lambda: (expired.set(), context.cancelJobGroup(group)))
        timer.start()
    try:
        for restart in range(restarts + 1):
            try:
                return function()
            except subprocess.TimeoutExpired:
                raise TimeoutError(f"{what} did not finish within {seconds:.0f} s (train.timeout_minutes); its process was killed") from None
            except InputError:
                raise
            except Exception as exc:
                if expired.is_set():
                    raise TimeoutError(
                        f"{what} did not finish within {seconds:.0f} s (train.timeout_minutes); its Spark jobs were cancelled"
                    ) from None
                error = first_error_line(staging) or _last_error_line(exc)
                if restart == restarts:
                    raise RuntimeError(f"{what} failed: {error}") from None
                log.warning("%s failed (%s); restart %d of %d (train.restarts) from its last checkpoint", what, error, restart + 1, restarts)
                for stale in glob.glob(os.path.join(staging, "*")):  # the failed attempt's partial outputs and error lines
                    remove(stale)
    finally:
        if timer:
            timer.cancel()


def _last_error_line(exc: Exception) -> str:
    """The innermost error of a Spark-wrapped failure, as one line."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    errors = [line for line in lines if "Error:" in line or "Exception:" in line]
    return (errors[-1] if errors else lines[-1] if lines else type(exc).__name__)[:300]


def _write_history(history: list[dict], csv_path: str, json_path: str) -> None:
    with open(csv_path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(history[0]))
        writer.writeheader()
        writer.writerows(history)
    with open(json_path, "w") as handle:
        json.dump(history, handle, indent=2)
