"""Checkpoints as .npz archives (the keras engine and the BigDL job): the weights, the optimizer's state
where the engine exposes it, and the history. numpy only: the BigDL job imports it in its own
environment."""

from __future__ import annotations

import json
import os

import numpy as np

from .errors import InputError
from .files import atomic_path


def save_npz_checkpoint(path: str, weights: list, history: list[dict], optimizer: list = ()) -> None:
    """Written under a temporary name and renamed: a crash never leaves a half-written checkpoint."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    arrays = {f"weight_{i:03d}": w for i, w in enumerate(weights)}
    arrays.update({f"optimizer_{i:03d}": v for i, v in enumerate(optimizer)})
    with atomic_path(path) as temporary, open(temporary, "wb") as handle:
        np.savez(handle, history=np.array(json.dumps(history)), **arrays)


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
