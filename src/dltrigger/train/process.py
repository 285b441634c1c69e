"""What every training process does the same way, whatever the engine: learning rates, per-epoch
checkpoints, validation and early stopping, history records and the prediction files."""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import json
import math
import os
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

import numpy as np

from ..core.errors import leave_error_line
from ..core.registry import REGISTRY, model_setting
from ..core.schema import ID_COLUMNS, LABELS

VALIDATION_BATCH = 1024


@dataclass(frozen=True)
class TrainingSpec:
    """One training run as every training process sees it (JSON for the keras workers' processes)."""

    engine: str
    model: str
    workers: int
    threads: int
    epochs: int
    batch_size: int
    learning_rate: float
    learning_rate_schedule: str
    length_buckets: bool
    device: str
    seed: int
    train_dir: str
    validation_dir: str  # the events each epoch is validated on (the test set only as the original's quirk)
    test_dir: str  # scored once, after the training
    timeout_seconds: float
    bigdl: dict
    keras_environment: str  # the keras engine's package layer (train.keras.environment)
    particle_cloud: dict  # the particle cloud's shape (train.particle_cloud); empty for the other models
    particle_moments: dict | None = None  # the global particle scaling's mean and std, for the models that undo it
    patience: int = 0  # early stopping: epochs without a new lowest validation loss before the training stops; 0: off
    members: int = 1  # an ensemble's trainings (seeds seed, seed + 1, ...), their class probabilities averaged
    member: int = 0  # which of them this training is
    checkpoint_dir: str = ""  # per-epoch checkpoints of this exact run
    staging_dir: str = ""  # outputs before they are moved into place
    rank: int = 0  # a keras worker's index

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_config(cls, model: str, settings: dict, directories: dict, seed: int, patience: int, particle_moments: dict | None) -> TrainingSpec:
        """The spec of ``model`` from the train config of its job (``settings``: engine, its own epochs,
        batch size and learning rate, ...), its feature ``directories`` (train_dir, validation_dir,
        test_dir), the seed, the early stopping's patience and the rows' particle scaling."""
        return cls(
            engine=settings["engine"],
            model=model,
            workers=settings["workers"],
            threads=settings["threads_per_worker"],
            epochs=settings["epochs"][model],
            batch_size=model_setting(settings["batch_size"], model),
            learning_rate=model_setting(settings["learning_rate"], model),
            learning_rate_schedule=settings["learning_rate_schedule"],
            length_buckets=settings["length_buckets"],
            device=settings["device"],
            seed=seed,
            **{name: os.path.abspath(directory) for name, directory in directories.items()},
            patience=patience,
            members=model_setting(settings["ensemble"], model),
            timeout_seconds=settings["timeout_minutes"] * 60,
            bigdl=settings["bigdl"],
            keras_environment=os.path.abspath(settings["keras"]["environment"]),
            particle_cloud=settings["particle_cloud"] if REGISTRY[model].reads_particle_cloud else {},
            particle_moments=particle_moments,
        )

    @classmethod
    def from_json(cls, text: str) -> TrainingSpec:
        return cls(**json.loads(text))  # as the original's evaluation


CHECKPOINT = re.compile(r"epoch-(\d{3})\.(pt|npz)$")


def reuse_freed_memory() -> None:
    """Keep freed memory in the process instead of returning it to the kernel (glibc only).

    Every training step allocates and frees tens of MB (a batch of 801x19 matrices, the recurrent
    network's saved activations); by default glibc maps such blocks fresh each time and the step then
    spends up to a third of its time in page faults (measured: GRU fwd+bwd 200 -> 270 samples/s)."""
    libc_name = ctypes.util.find_library("c")
    if libc_name and "libc.so" in libc_name:
        libc = ctypes.CDLL(libc_name)
        if hasattr(libc, "mallopt"):
            libc.mallopt(-3, 1 << 30)  # M_MMAP_THRESHOLD: blocks below 1 GiB come from the heap
            libc.mallopt(-1, 1 << 30)  # M_TRIM_THRESHOLD: keep up to 1 GiB of freed heap


def member_spec(spec: TrainingSpec, member: int) -> TrainingSpec:
    """One training of an ensemble: its own seed (initial weights, dropout, batch order) and checkpoint
    folder. The first member is the single training of the same seed, checkpoints included, so that a
    larger ensemble resumes the trainings a smaller one finished."""
    folder = spec.checkpoint_dir if member == 0 else os.path.join(spec.checkpoint_dir, f"member-{member}")
    return replace(spec, seed=spec.seed + member, checkpoint_dir=folder, member=member)


def average_probabilities(per_member: list[list[np.ndarray]]) -> list[np.ndarray]:
    """The class probabilities of one process's test events averaged over an ensemble's members (each a
    list of batches of the same events in the same order)."""
    if not per_member[0]:
        return []
    return [np.mean([np.concatenate(batches) for batches in per_member], axis=0, dtype=np.float64).astype(np.float32)]


def learning_rate(spec: TrainingSpec, epoch: int) -> float:
    """Adam's learning rate for an epoch: ``constant`` (the original's default, 1e-3); ``cosine``: from
    the configured rate down to a tenth of it, along half a cosine over the epochs; or the original's
    multi-worker recipe (``original_multiworker``): 5e-4 x workers for epochs 0-2, 2e-4 x for 3-4,
    1e-4 x from 5."""
    schedule = spec.learning_rate_schedule
    if schedule == "cosine":
        progress = epoch / max(spec.epochs - 1, 1)
        return spec.learning_rate * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))
    if schedule == "original_multiworker":
        return (5e-4 if epoch < 3 else 2e-4 if epoch < 5 else 1e-4) * spec.workers
    return spec.learning_rate


def epoch_seed(spec: TrainingSpec, epoch: int, rank: int) -> int:
    """Seed of one process in one epoch (dropout): a run resumed at an epoch repeats it exactly."""
    return (spec.seed * 1000 + epoch) * 1000 + rank


def latest_checkpoint(spec: TrainingSpec) -> tuple[int, str] | None:
    """(epochs done, path) of the last complete checkpoint of this exact training, or None."""
    found = []
    for path in glob.glob(os.path.join(spec.checkpoint_dir, "epoch-*")):
        match = CHECKPOINT.search(path)
        if match:
            found.append((int(match.group(1)), path))
    return max(found) if found else None


def checkpoint_path(spec: TrainingSpec, epochs_done: int, suffix: str) -> str:
    return os.path.join(spec.checkpoint_dir, f"epoch-{epochs_done:03d}.{suffix}")


def best_epoch(history: list[dict]) -> int:
    """The epoch (counted from 1) with the lowest validation loss; the first of equal ones."""
    losses = [record["val_loss"] for record in history]
    return int(np.argmin(losses)) + 1


def stops_early(history: list[dict], patience: int) -> bool:
    """Whether ``patience`` epochs have passed since the lowest validation loss (never with patience 0).
    It reads the history only, which every process holds alike: all stop after the same epoch, and a
    resumed run decides as the interrupted one would have."""
    return patience > 0 and bool(history) and len(history) - best_epoch(history) >= patience


def history_record(epoch: int, lr: float, train: np.ndarray, validation: np.ndarray, seconds: float) -> dict:
    """One epoch of the history from (loss sum, correct, events) summed over all processes."""
    return {
        "epoch": epoch + 1,
        "loss": float(train[0] / train[2]),
        "accuracy": float(train[1] / train[2]),
        "val_loss": float(validation[0] / validation[2]),
        "val_accuracy": float(validation[1] / validation[2]),
        "learning_rate": lr,
        "train_events": int(train[2]),
        "wall_seconds": seconds,
        "samples_per_second": float(train[2] / seconds),
    }


def progress(spec: TrainingSpec, record: dict) -> str:
    return (
        f"[{training_name(spec)}] epoch {record['epoch']}/{spec.epochs}: loss {record['loss']:.4f} "
        f"acc {record['accuracy']:.4f} val_loss {record['val_loss']:.4f} val_acc {record['val_accuracy']:.4f} "
        f"({record['wall_seconds']:.1f} s, {record['samples_per_second']:.0f} samples/s)"
    )


def training_name(spec: TrainingSpec) -> str:
    """How progress lines name a training: engine/model, and the member of an ensemble."""
    return f"{spec.engine}/{spec.model}" + (f" member {spec.member + 1}/{spec.members}" if spec.members > 1 else "")


def weights_digest(arrays) -> str:
    """SHA-256 of a model's weights (tensors or arrays, in a fixed order)."""
    import hashlib

    digest = hashlib.sha256()
    for array in arrays:
        digest.update(np.ascontiguousarray(array.detach().cpu().numpy() if hasattr(array, "detach") else array).tobytes())
    return digest.hexdigest()


def reporting_errors(function):
    """Wrap a training process: its error is also written as one line to the staging directory, where
    the driver finds it (Spark and torchrun report only that a process failed)."""
    import functools

    @functools.wraps(function)
    def wrapper(spec: TrainingSpec):
        try:
            return function(spec)
        except Exception as exc:
            leave_error_line(spec.staging_dir, exc)
            raise

    return wrapper


def write_predictions(spec: TrainingSpec, rank: int, probabilities: list, ids: list) -> None:
    """This process's test events: the 3 class probabilities, the true label and the event's identity."""
    import pyarrow as pa

    probs = np.concatenate(probabilities) if probabilities else np.zeros((0, len(LABELS)), np.float32)
    types = {"source_file": pa.string(), "entry": pa.int64(), "event_number": pa.int64()}
    columns = {name: pa.array(np.concatenate([batch[name] for batch in ids]) if ids else [], types[name]) for name in ID_COLUMNS}
    labels = np.concatenate([batch["label"] for batch in ids]) if ids else np.zeros(0, np.int32)
    write_prediction_part(os.path.join(spec.staging_dir, "predictions.parquet"), rank, probs, labels, columns)


def write_prediction_part(directory: str, part: int, probabilities: np.ndarray, labels: np.ndarray, ids: dict) -> None:
    """One part of a predictions Parquet directory, as every model writes it: the class probabilities
    (float32), the true label (int32) and the events' identity columns (``ids``: name -> Arrow array)."""
    import pyarrow as pa

    from ..core.files import write_parquet

    os.makedirs(directory, exist_ok=True)
    columns = {f"prob_{name}": pa.array(probabilities[:, code].astype(np.float32)) for name, code in LABELS.items()}
    columns["label"] = pa.array(np.asarray(labels).astype(np.int32), pa.int32())
    columns.update(ids)
    write_parquet(pa.table(columns), os.path.join(directory, f"part-{part:05d}.parquet"))


@dataclass
class EpochHooks:
    """What an engine does in the shared epoch loop (``run_epochs``): each step as a function."""

    begin_epoch: Callable[[int, float], None]  # (epoch, learning rate): set the rate, reseed, train mode
    train_epoch: Callable[[int], np.ndarray]  # (epoch) -> (loss sum, correct, events) over all processes
    validate: Callable[[], np.ndarray]  # () -> (loss sum, correct, events) on the validation events, over all processes
    predict_test: Callable[[], tuple]  # () -> (probabilities, identities) of this process's test events
    save_checkpoint: Callable[[list, str], None]  # (history, path), on rank 0
    restore: Callable[[str], None]  # (checkpoint path): the weights of that epoch, on every process
    end_epoch: Callable[[], None] = lambda: None  # e.g. wait for every process


def run_epochs(spec: TrainingSpec, rank: int, hooks: EpochHooks, start: int, history: list[dict], checkpoint_suffix: str) -> tuple:
    """The epochs from ``start`` on, the same for every engine: the learning rate of each epoch, training,
    validation, the history, a checkpoint and a progress line per epoch (rank 0), until the last epoch or
    early stopping; then the best epoch's weights (with early stopping) score this process's test events,
    the only time the test set is read. Returns the history and the test events' (probabilities,
    identities), for the engine to write (``write_predictions``)."""
    for epoch in range(start, spec.epochs):
        if stops_early(history, spec.patience):
            break
        lr = learning_rate(spec, epoch)
        hooks.begin_epoch(epoch, lr)
        began = time.perf_counter()
        trained = hooks.train_epoch(epoch)
        seconds = time.perf_counter() - began
        history.append(history_record(epoch, lr, trained, hooks.validate(), seconds))
        if rank == 0:
            hooks.save_checkpoint(history, checkpoint_path(spec, epoch + 1, checkpoint_suffix))
            print(progress(spec, history[-1]), flush=True)
        hooks.end_epoch()
    if spec.patience and best_epoch(history) < len(history):
        best = best_epoch(history)
        if rank == 0:
            print(f"[{training_name(spec)}] early stopping: the weights of epoch {best} (lowest validation loss) are the model", flush=True)
        hooks.restore(checkpoint_path(spec, best, checkpoint_suffix))
    return history, *hooks.predict_test()


@dataclass(frozen=True)
class BigDLJob:
    """What the job trains, how and where: written as JSON by the engine in the main environment, read
    here in the BigDL one."""

    model: str
    workers: int
    epochs: int
    patience: int
    batch_size: int  # per worker
    seed: int
    train_dir: str
    validation_dir: str
    test_dir: str
    checkpoint_dir: str
    staging_dir: str  # the job's outputs: probabilities, model file, history
    inputs: list  # the model's input columns
    shapes: dict  # each input's shape per event
    learning_rates: list  # per epoch
    model_file: str
    master: str  # BigDL's own Spark master
    resume: list | None  # (epoch, checkpoint path) to resume after
    spark_conf: dict

    def write(self, path: str) -> None:
        with open(path, "w") as handle:
            json.dump(asdict(self), handle)

    @classmethod
    def read(cls, path: str) -> BigDLJob:
        with open(path) as handle:
            return cls(**json.load(handle))
