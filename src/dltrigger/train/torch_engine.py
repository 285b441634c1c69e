"""Engine ``torch``: PyTorch DistributedDataParallel (gloo on CPU, NCCL on GPU), one process per Spark
barrier task, launched by Spark's ``TorchDistributor`` on the master from config."""

from __future__ import annotations

import os

import numpy as np

from ..core.errors import InputError
from ..core.faults import kill_once
from ..core.files import atomic_path
from ..core.registry import MODEL_FILES, REGISTRY
from ..core.schema import ID_COLUMNS
from .data import Dataset
from .process import (
    VALIDATION_BATCH,
    EpochHooks,
    TrainingSpec,
    epoch_seed,
    latest_checkpoint,
    reporting_errors,
    reuse_freed_memory,
    run_epochs,
    weights_digest,
)

MODEL_FILE = MODEL_FILES["torch"]


def launch(spark, spec: TrainingSpec) -> dict:
    """Run the training processes as one barrier stage; returns rank 0's history and every process's
    final weights digest."""
    from pyspark.ml.torch.distributor import TorchDistributor

    distributor = TorchDistributor(num_processes=spec.workers, local_mode=False, use_gpu=spec.device == "cuda")
    return distributor.run(train_process, spec)


@reporting_errors
def train_process(spec: TrainingSpec) -> list[dict] | None:
    """One data-parallel training process (rank and world size from torchrun's environment)."""
    import torch
    import torch.distributed as dist
    import torch.nn.functional as F
    from torch.nn.parallel import DistributedDataParallel

    from ..models.torch_models import build, probabilities

    reuse_freed_memory()
    torch.set_num_threads(spec.threads)
    cuda = spec.device == "cuda"
    dist.init_process_group("nccl" if cuda else "gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0))) if cuda else torch.device("cpu")
    torch.manual_seed(spec.seed)  # rank 0's initial weights are broadcast by DDP anyway
    model = build(spec.model, spec.particle_cloud, spec.particle_moments).to(device)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=spec.learning_rate, eps=1e-7)  # Keras's epsilon
    history, start = [], 0
    resume = latest_checkpoint(spec)
    if resume:
        state = torch.load(resume[1], map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        history, start = state["history"], resume[0]
        if rank == 0:
            print(f"[torch/{spec.model}] resuming after epoch {start} from {resume[1]}", flush=True)
    ddp = DistributedDataParallel(model, device_ids=[device.index] if cuda else None)
    inputs = REGISTRY[spec.model].inputs
    # Batches only as long as their longest event, unless the model reads every row in its place.
    compact = not REGISTRY[spec.model].reads_every_row
    train, validation, test = (Dataset.open(directory) for directory in (spec.train_dir, spec.validation_dir, spec.test_dir))
    train_rows = train.shard(rank, world, equal=True)

    def tensors(batch):
        # Arrow's buffers are read-only: torch wants arrays it may write (a copy only where needed).
        features = [torch.from_numpy(np.require(batch[name], requirements=["C", "W"])).to(device) for name in inputs]
        return features, torch.from_numpy(batch["label"].astype(np.int64)).to(device)

    def scored(data: Dataset, columns):
        """(logits, labels, batch) of this process's share of ``data``, in evaluation mode. Batch-norm
        statistics (the particle transformer's) are updated by each process's own last batch after DDP's
        broadcast: rank 0's, which it saves, score every share."""
        for buffer in model.buffers():
            dist.broadcast(buffer, 0)
        model.eval()
        with torch.no_grad():
            for batch in data.batches(
                *data.shard(rank, world, equal=False), VALIDATION_BATCH, columns, compact=compact, buckets=(None, 0) if compact else None
            ):
                x, y = tensors(batch)
                yield model(*x), y, batch

    def validate() -> np.ndarray:
        sums = torch.zeros(3, dtype=torch.float64)
        for logits, y, _ in scored(validation, (*inputs, "label")):
            sums += torch.tensor(
                [F.cross_entropy(logits, y, reduction="sum").item(), (logits.argmax(1) == y).sum().item(), y.numel()], dtype=torch.float64
            )
        dist.all_reduce(sums)
        return sums.numpy()

    def predict_test():
        probs, ids = [], []
        for logits, _, batch in scored(test, (*inputs, "label", *ID_COLUMNS)):
            probs.append(probabilities(logits).cpu().numpy())
            ids.append({name: batch[name] for name in ("label", *ID_COLUMNS)})
        return probs, ids

    def begin_epoch(epoch: int, lr: float) -> None:
        torch.manual_seed(epoch_seed(spec, epoch, rank))
        for group in optimizer.param_groups:
            group["lr"] = lr
        model.train()

    def train_epoch(epoch: int) -> np.ndarray:
        sums = torch.zeros(3, dtype=torch.float64)
        buckets = (spec.seed, epoch) if spec.length_buckets and compact else None
        for step, batch in enumerate(train.batches(*train_rows, spec.batch_size, (*inputs, "label"), compact=compact, buckets=buckets)):
            x, y = tensors(batch)
            logits = ddp(*x)
            loss = F.cross_entropy(logits, y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            sums += torch.tensor([loss.item() * y.numel(), (logits.argmax(1) == y).sum().item(), y.numel()], dtype=torch.float64)
            if step == 0:
                kill_once(f"train-rank{rank}-epoch{epoch + 1}")  # the reliability tests kill a process mid-epoch here
        dist.all_reduce(sums)
        return sums.numpy()

    def save_checkpoint(history: list[dict], path: str) -> None:
        _save(torch, {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "history": history}, path)

    def restore(path: str) -> None:
        model.load_state_dict(torch.load(path, map_location=device, weights_only=False)["model"])

    hooks = EpochHooks(begin_epoch, train_epoch, validate, predict_test, save_checkpoint, restore, end_epoch=dist.barrier)
    history = run_epochs(spec, rank, hooks, start, history, "pt")
    if rank == 0:
        _save(
            torch,
            {"model": spec.model, "particle_cloud": spec.particle_cloud, "particle_moments": spec.particle_moments, "state_dict": model.state_dict()},
            os.path.join(spec.staging_dir, MODEL_FILE),
        )
    digests = [None] * world  # every process's final weights, to show they agree
    dist.all_gather_object(digests, weights_digest(model.state_dict().values()))
    dist.destroy_process_group()
    return {"history": history, "weights": digests} if rank == 0 else None


def check_checkpoint(path: str) -> None:
    """A checkpoint that cannot be loaded stops the run with one line instead of failing in every worker."""
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
        state["model"], state["optimizer"], state["history"]
    except Exception as exc:
        raise InputError(f"{path}: corrupt checkpoint ({type(exc).__name__}); delete it to resume from the epoch before") from None


def _save(torch, state, path: str) -> None:
    """Written under a temporary name and renamed: a crash never leaves a half-written checkpoint."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with atomic_path(path) as temporary:
        torch.save(state, temporary)


def load_model(path: str):
    """A trained model from its file (for predictions outside the workflow)."""
    from ..models.torch_models import load

    return load(path)
