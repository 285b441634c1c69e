"""What every training process does the same way, whatever the engine: learning rates, per-epoch
checkpoints, history records and the prediction files."""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import json
import os
import re

import numpy as np

from .. import LABELS
from ..ingest import InputError
from .data import ID_COLUMNS

VALIDATION_BATCH = 1024  # as the original's evaluation
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


def learning_rate(spec: dict, epoch: int) -> float:
    """Adam's learning rate for an epoch: constant (the original's default, 1e-3), or the original
    multi-worker recipe: 5e-4 x workers for epochs 0-2, 2e-4 x for 3-4, 1e-4 x from 5."""
    if not spec["multiworker_lr_recipe"]:
        return spec["learning_rate"]
    return (5e-4 if epoch < 3 else 2e-4 if epoch < 5 else 1e-4) * spec["workers"]


def epoch_seed(spec: dict, epoch: int, rank: int) -> int:
    """Seed of one process in one epoch (dropout): a run resumed at an epoch repeats it exactly."""
    return (spec["seed"] * 1000 + epoch) * 1000 + rank


def latest_checkpoint(spec: dict) -> tuple[int, str] | None:
    """(epochs done, path) of the last complete checkpoint of this exact training, or None."""
    found = []
    for path in glob.glob(os.path.join(spec["checkpoint_dir"], "epoch-*")):
        match = CHECKPOINT.search(path)
        if match:
            found.append((int(match.group(1)), path))
    return max(found) if found else None


def checkpoint_path(spec: dict, epochs_done: int, suffix: str) -> str:
    return os.path.join(spec["checkpoint_dir"], f"epoch-{epochs_done:03d}.{suffix}")


def load_npz_checkpoint(path: str) -> tuple[list, list, list]:
    """Weights, optimizer state and history of a .npz checkpoint (keras and bigdl engines)."""
    with np.load(path) as archive:
        weights = [archive[name] for name in sorted(archive.files) if name.startswith("weight_")]
        optimizer = [archive[name] for name in sorted(archive.files) if name.startswith("optimizer_")]
        return weights, optimizer, json.loads(str(archive["history"]))


def check_npz_checkpoint(path: str) -> None:
    """A checkpoint that cannot be loaded stops the run with one line instead of failing in every worker."""
    try:
        weights, _, history = load_npz_checkpoint(path)
        if not weights or not isinstance(history, list):
            raise ValueError("no weights")
    except Exception as exc:
        raise InputError(f"{path}: corrupt checkpoint ({type(exc).__name__}); delete it to resume from the epoch before") from None


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


def progress(spec: dict, record: dict) -> str:
    return (
        f"[{spec['engine']}/{spec['model']}] epoch {record['epoch']}/{spec['epochs']}: loss {record['loss']:.4f} "
        f"acc {record['accuracy']:.4f} val_loss {record['val_loss']:.4f} val_acc {record['val_accuracy']:.4f} "
        f"({record['wall_seconds']:.1f} s, {record['samples_per_second']:.0f} samples/s)"
    )


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
    def wrapper(spec: dict):
        try:
            return function(spec)
        except Exception as exc:
            line = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
            with open(os.path.join(spec["staging_dir"], f"error-{os.getpid()}.txt"), "w") as handle:
                handle.write(line + "\n")
            raise

    return wrapper


def first_error(staging_dir: str) -> str | None:
    """The error line a failed training process left, if any."""
    for path in sorted(glob.glob(os.path.join(staging_dir, "error-*.txt"))):
        with open(path) as handle:
            return handle.read().strip()
    return None


def write_predictions(spec: dict, rank: int, probabilities: list, ids: list) -> None:
    """This process's test events: the 3 class probabilities, the true label and the event's identity."""
    import pyarrow as pa

    from ..files import write_parquet

    directory = os.path.join(spec["staging_dir"], "predictions.parquet")
    os.makedirs(directory, exist_ok=True)
    probs = np.concatenate(probabilities) if probabilities else np.zeros((0, len(LABELS)), np.float32)
    columns = {f"prob_{name}": pa.array(probs[:, code].astype(np.float32)) for name, code in LABELS.items()}
    types = {"label": pa.int32(), "source_file": pa.string(), "entry": pa.int64(), "event_number": pa.int64()}
    for name in ("label", *ID_COLUMNS):
        columns[name] = pa.array(np.concatenate([batch[name] for batch in ids]) if ids else [], types[name])
    write_parquet(pa.table(columns), os.path.join(directory, f"part-{rank:05d}.parquet"))
