"""Engine ``torch``: PyTorch DistributedDataParallel (gloo on CPU, NCCL on GPU), one process per Spark
barrier task, launched by Spark's ``TorchDistributor`` on the master from config."""

from __future__ import annotations

import gc
import os

import numpy as np

from ..core.errors import InputError
from ..core.faults import interrupt_once
from ..core.files import atomic_path
from ..core.registry import MODEL_FILES, REGISTRY
from ..core.schema import ID_COLUMNS
from .data import Dataset
from .process import (
    VALIDATION_BATCH,
    EpochHooks,
    TrainingSpec,
    average_probabilities,
    epoch_seed,
    latest_checkpoint,
    member_spec,
    reporting_errors,
    reuse_freed_memory,
    run_epochs,
    training_name,
    weights_digest,
    write_predictions,
)

MODEL_FILE = MODEL_FILES["torch"]


def launch(spark, spec: TrainingSpec) -> dict:
    """Run the training processes as one barrier stage; returns rank 0's history and every process's
    final weights digest."""
    from pyspark.ml.torch.distributor import TorchDistributor

    distributor = TorchDistributor(num_processes=spec.workers, local_mode=False, use_gpu=spec.device == "cuda")
    return distributor.run(train_process, spec)


@reporting_errors
def train_process(spec: TrainingSpec) -> dict | None:
    """One data-parallel training process (rank and world size from torchrun's environment): the
    ensemble's members one after the other, their test probabilities averaged."""
    import torch.distributed as dist

    dist.init_process_group("nccl" if spec.device == "cuda" else "gloo")
    members, histories, probabilities = [], [], []
    for member in range(spec.members):
        process = TorchProcess(member_spec(spec, member))
        hooks = EpochHooks(
            process.begin_epoch, process.train_epoch, process.validate, process.predict_test, process.save_checkpoint, process.restore, dist.barrier
        )
        history, member_probabilities, ids = run_epochs(process.spec, process.rank, hooks, process.start, process.history, "pt")
        histories += [dict(record, member=member) if spec.members > 1 else record for record in history]
        probabilities.append(member_probabilities)
        members.append(process)
    write_predictions(spec, process.rank, average_probabilities(probabilities), ids)
    return finish(spec, members, histories)


class TorchProcess:
    """A training process's model, optimizer and its shares of the data, with the steps of the shared
    epoch loop (``EpochHooks``) as methods."""

    def __init__(self, spec: TrainingSpec):
        import torch
        import torch.distributed as dist
        from torch.nn.parallel import DistributedDataParallel

        from ..models.torch_models import build

        reuse_freed_memory()
        torch.set_num_threads(spec.threads)
        # Backwards through hundreds of GRU steps the state's gradient decays into float32's subnormal
        # range, where each operation costs ~100 cycles: flushed to zero, early steps at pileup's ~560 rows
        # are ~6x faster, and the weights come out the same (what is flushed is far below an ulp of the sums).
        torch.set_flush_denormal(True)
        cuda = spec.device == "cuda"
        self.spec, self.rank, self.world = spec, dist.get_rank(), dist.get_world_size()
        self.device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0))) if cuda else torch.device("cpu")
        torch.manual_seed(spec.seed)  # rank 0's initial weights are broadcast by DDP anyway
        self.model = build(spec.model, spec.particle_cloud, spec.particle_moments).to(self.device)
        parameters = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.Adam(parameters, lr=spec.learning_rate, eps=1e-7)  # Keras's epsilon
        self.history, self.start = [], 0
        resume = latest_checkpoint(spec)
        if resume:
            state = torch.load(resume[1], map_location=self.device, weights_only=False)
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.history, self.start = state["history"], resume[0]
            if self.rank == 0:
                print(f"[{training_name(spec)}] resuming after epoch {self.start} from {resume[1]}", flush=True)
        self.ddp = DistributedDataParallel(self.model, device_ids=[self.device.index] if cuda else None)
        self.inputs = REGISTRY[spec.model].inputs
        # Batches only as long as their longest event, unless the model reads every row in its place.
        self.compact = not REGISTRY[spec.model].reads_every_row
        self.train, self.validation, self.test = (Dataset.open(directory) for directory in (spec.train_dir, spec.validation_dir, spec.test_dir))
        self.train_rows = self.train.shard(self.rank, self.world, equal=True)

    def tensors(self, batch):
        import torch

        # Arrow's buffers are read-only: torch wants arrays it may write (a copy only where needed).
        features = [torch.from_numpy(np.require(batch[name], requirements=["C", "W"])).to(self.device) for name in self.inputs]
        return features, torch.from_numpy(batch["label"].astype(np.int64)).to(self.device)

    def scored(self, data: Dataset, columns):
        """(logits, labels, batch) of this process's share of ``data``, in evaluation mode. Batch-norm
        statistics (the particle transformer's) are updated by each process's own last batch after DDP's
        broadcast: rank 0's, which it saves, score every share."""
        import torch
        import torch.distributed as dist

        for buffer in self.model.buffers():
            dist.broadcast(buffer, 0)
        self.model.eval()
        share = data.shard(self.rank, self.world, equal=False)
        with torch.no_grad():
            for batch in data.batches(*share, VALIDATION_BATCH, columns, compact=self.compact, buckets=(None, 0) if self.compact else None):
                x, y = self.tensors(batch)
                yield self.model(*x), y, batch

    def validate(self) -> np.ndarray:
        import torch
        import torch.distributed as dist
        import torch.nn.functional as F

        sums = torch.zeros(3, dtype=torch.float64)
        for logits, y, _ in self.scored(self.validation, (*self.inputs, "label")):
            loss = F.cross_entropy(logits, y, reduction="sum").item()
            sums += torch.tensor([loss, (logits.argmax(1) == y).sum().item(), y.numel()], dtype=torch.float64)
        dist.all_reduce(sums)
        return sums.numpy()

    def predict_test(self):
        from ..models.torch_models import probabilities

        probs, ids = [], []
        for logits, _, batch in self.scored(self.test, (*self.inputs, "label", *ID_COLUMNS)):
            probs.append(probabilities(logits).cpu().numpy())
            ids.append({name: batch[name] for name in ("label", *ID_COLUMNS)})
        return probs, ids

    def begin_epoch(self, epoch: int, lr: float) -> None:
        import torch

        torch.manual_seed(epoch_seed(self.spec, epoch, self.rank))
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.model.train()

    def train_epoch(self, epoch: int) -> np.ndarray:
        import torch
        import torch.distributed as dist
        import torch.nn.functional as F

        spec = self.spec
        sums = torch.zeros(3, dtype=torch.float64)
        buckets = (spec.seed, epoch) if spec.length_buckets and self.compact else None
        batches = self.train.batches(*self.train_rows, spec.batch_size, (*self.inputs, "label"), compact=self.compact, buckets=buckets)
        for step, batch in enumerate(batches):
            x, y = self.tensors(batch)
            logits = self.ddp(*x)
            loss = F.cross_entropy(logits, y)
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            sums += torch.tensor([loss.item() * y.numel(), (logits.argmax(1) == y).sum().item(), y.numel()], dtype=torch.float64)
            if step == 0:
                interrupt_once(f"train-rank{self.rank}-epoch{epoch + 1}")  # the reliability tests kill a process mid-epoch here
        dist.all_reduce(sums)
        return sums.numpy()

    def save_checkpoint(self, history: list[dict], path: str) -> None:
        import torch

        _save(torch, {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(), "history": history}, path)

    def restore(self, path: str) -> None:
        import torch

        self.model.load_state_dict(torch.load(path, map_location=self.device, weights_only=False)["model"])


def finish(spec: TrainingSpec, members: list[TorchProcess], history: list[dict]) -> dict | None:
    """Rank 0 writes the model file (every member's weights); every process's final weights are gathered
    to show they agree."""
    import torch
    import torch.distributed as dist

    rank, world = members[0].rank, members[0].world
    states = [member.model.state_dict() for member in members]
    if rank == 0:
        model = {"model": spec.model, "particle_cloud": spec.particle_cloud, "particle_moments": spec.particle_moments}
        _save(torch, dict(model, state_dicts=states), os.path.join(spec.staging_dir, MODEL_FILE))
    digests = [None] * world
    dist.all_gather_object(digests, weights_digest([tensor for state in states for tensor in state.values()]))
    dist.destroy_process_group()
    # DistributedDataParallel sits in a reference cycle that keeps the process group alive: freed
    # here, not at interpreter exit, where gloo's threads can abort the process (SIGABRT) and leave
    # the other torchrun agents waiting out torch elastic's 300-s exit barrier.
    for member in members:
        del member.ddp
    gc.collect()
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
