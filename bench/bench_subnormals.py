"""Subnormal floats in the GRU's backward pass: training steps with them kept against flushed to zero.

Backwards through hundreds of GRU steps the state's gradient decays geometrically and passes through
float32's subnormal range (below 1.2e-38), where each operation costs the CPU ~100 cycles. The torch
engine flushes them to zero. This bench trains a network from fresh weights on the first ``--batches``
batches of a feature folder's training events (the engine's length buckets, one thread), once with
subnormals kept and once flushed, and prints the time per batch over the first and second half of the
batches, the speed-up (mean and range over ``--repeats``), and whether the trained weights are the same bits.

    .venv/bin/python bench/bench_subnormals.py --features results/features --models particle inclusive \\
        [--batches 120] [--batch-size 32] [--seed 20190522] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

from dltrigger.core.registry import REGISTRY
from dltrigger.train.data import Dataset

sys.path.insert(0, os.path.dirname(__file__))
from machine import cpu_model  # noqa: E402


def train(model: str, data: Dataset, flush: bool, batches: int, batch_size: int, seed: int) -> tuple[np.ndarray, dict]:
    """Seconds per training step (forward, backward, Adam) and the weights after ``batches`` steps."""
    import torch

    from dltrigger.models.torch_models import build

    torch.set_num_threads(1)
    torch.set_flush_denormal(flush)
    torch.manual_seed(seed)
    network = build(model).train()
    optimizer = torch.optim.Adam(network.parameters(), lr=3e-3, eps=1e-7)
    inputs, seconds = REGISTRY[model].inputs, []
    for batch in data.batches(0, data.rows, batch_size, (*inputs, "label"), compact=True, buckets=(seed, 0)):
        if len(seconds) == batches:
            break
        start = time.perf_counter()
        logits = network(*(torch.from_numpy(np.require(batch[name], requirements=["C", "W"])) for name in inputs))
        loss = torch.nn.functional.cross_entropy(logits, torch.from_numpy(batch["label"].astype(np.int64)))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        seconds.append(time.perf_counter() - start)
    torch.set_flush_denormal(False)
    return np.array(seconds), {name: value.clone() for name, value in network.state_dict().items()}


def halves(seconds: np.ndarray, half: int) -> str:
    """Mean milliseconds per batch over the first ``half`` batches and over the rest, every repeat."""
    return f"{1e3 * seconds[:, :half].mean():.1f} / {1e3 * seconds[:, half:].mean():.1f}"


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", default="results/features", help="a feature preparation's output folder")
    parser.add_argument("--models", nargs="+", default=["particle", "inclusive"])
    parser.add_argument("--batches", type=int, default=120)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=20190522)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    data = Dataset.open(os.path.join(args.features, "train.parquet"))
    print(f"{cpu_model()}; {args.features}: {args.batches} batches of {args.batch_size}, one thread")
    train(args.models[0], data, True, 1, args.batch_size, args.seed)  # loads the compiled kernels before any timing
    half = args.batches // 2
    for model in args.models:
        runs = [[train(model, data, flush, args.batches, args.batch_size, args.seed) for flush in (False, True)] for _ in range(args.repeats)]
        kept, flushed = (np.array([pair[flush][0] for pair in runs]) for flush in (0, 1))  # (repeats, batches)
        weights = [run[1] for pair in runs for run in pair]
        same = all(torch.equal(weights[0][name], other[name]) for other in weights[1:] for name in weights[0])
        speedup = kept.sum(axis=1) / flushed.sum(axis=1)
        print(
            f"{model}: ms per batch, first / second half: subnormals kept {halves(kept, half)}, flushed {halves(flushed, half)}; "
            f"{speedup.mean():.2f}x faster (spread {speedup.min():.2f}-{speedup.max():.2f} over {args.repeats} repeats); "
            f"weights the same bits in every run: {same}"
        )


if __name__ == "__main__":
    main()
