"""The trigger's costs, side by side in one run: inference per event with onnxruntime and with torch, and
the streaming trigger's throughput and latency.

Inference: the HLF and inclusive classifiers (their shapes; the weights do not change the cost) on the
workflow's test events (``--features``, for their real particle counts), one thread, batches of 1 and
1,024, onnxruntime on the exported graph vs torch eager; microseconds per event, mean +- standard
deviation over ``--repeats``.

Streaming: the workflow's exported inclusive selector (``--menu``; ``make run`` builds it) on its test
events replayed ``--copies`` times in chunks of ``--events-per-chunk`` through the Spark Structured
Streaming trigger on local[2]: at saturation (every chunk landed at once), raw events per second per
core from the first arrival to the last commit, and without the first micro-batch (start-up); at
``--rate`` events/s, the chunks' latency from arrival to sink commit, p50 and p99. Each ``--repeats``
times.

Anchors, for scale: the CMS High-Level Trigger's CPU budget is of order 100 ms per event; hls4ml runs a
small MLP in ~100 ns on an FPGA; a Spark Structured Streaming micro-batch costs of order 100 ms.
Goals: the inclusive selector at <= 1 ms per event with onnxruntime (batch 1,024, one core); the stream
at >= 1,000 raw events/s/core end to end.

    tests/loopback.sh .venv/bin/python bench/bench_trigger.py [--repeats 3] [--rate 500]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
from dltrigger.core.registry import MODELS  # noqa: E402
from dltrigger.models.onnx_models import onnx_session  # noqa: E402
from dltrigger.trigger.export import export_onnx, model_inputs  # noqa: E402
from dltrigger.trigger.stream import PROVENANCE, prepare_replay, run_stream  # noqa: E402

from helpers import SPARK  # noqa: E402

CORES = 2
BATCHES = (1, 1024)


def inference(features: str, repeats: int) -> None:
    import pyarrow.parquet as pq
    import torch

    from dltrigger.models.torch_models import build

    torch.set_num_threads(1)
    test = pq.ParquetDataset(features)
    table = test.read(columns=["HLF_input", "GRU_input", "padding_row", "padding_at"]).slice(0, 4096)
    print(f"inference per event, one thread, {table.num_rows} test events of {features}")
    print(f"{'model':>10} {'batch':>6} {'onnxruntime us/event':>22} {'torch us/event':>18} {'torch/ort':>10}")
    with tempfile.TemporaryDirectory() as directory:
        for model in ("hlf", "inclusive"):
            torch.manual_seed(0)
            network = build(model).eval()
            path = os.path.join(directory, f"{model}.onnx")
            export_onnx(network, model, path)
            session = onnx_session(path, threads=1)
            for batch in BATCHES:
                events = min(table.num_rows, 256 if batch == 1 else table.num_rows)  # batch 1: 256 events per repeat
                slices = [model_inputs(table.slice(start, batch), model, every_row=False) for start in range(0, events, batch)]
                costs = {"ort": [], "torch": []}
                for _ in range(repeats):
                    started = time.perf_counter()
                    for inputs in slices:
                        session.run(None, dict(zip(MODELS[model].inputs, inputs)))
                    costs["ort"].append((time.perf_counter() - started) / events * 1e6)
                    started = time.perf_counter()
                    with torch.no_grad():
                        for inputs in slices:
                            torch.softmax(network(*(torch.from_numpy(np.array(array)) for array in inputs)), dim=1)
                    costs["torch"].append((time.perf_counter() - started) / events * 1e6)
                ort, eager = (np.array(costs[name]) for name in ("ort", "torch"))
                print(
                    f"{model:>10} {batch:>6} {ort.mean():>14.1f} +- {ort.std(ddof=1):<5.1f} {eager.mean():>10.1f} +- {eager.std(ddof=1):<5.1f}"
                    f" {eager.mean() / ort.mean():>9.1f}x"
                )


def replay_copies(test_dir: str, directory: str, events_per_chunk: int, copies: int) -> str:
    """The test events as a replay (the workflow's own step), ``copies`` times under other chunk names: a
    stream long enough for the first micro-batch not to dominate it."""
    import shutil

    import pandas as pd

    single, replay = os.path.join(directory, "single"), os.path.join(directory, "replay")
    prepare_replay(test_dir, single, events_per_chunk, seed=1)
    provenance = pd.read_parquet(os.path.join(single, PROVENANCE))
    os.makedirs(replay)
    for copy in range(copies):
        for name in provenance.chunk.unique():
            shutil.copyfile(os.path.join(single, name), os.path.join(replay, f"copy{copy}-{name}"))
    pd.concat([provenance.assign(chunk=f"copy{copy}-" + provenance.chunk) for copy in range(copies)]).to_parquet(os.path.join(replay, PROVENANCE))
    return replay


def streaming(menu: str, test_dir: str, args) -> None:
    print(
        f"\nstreaming trigger ({menu}), local[{CORES}], the test events {args.copies} times in chunks of {args.events_per_chunk}, "
        f"at most {args.chunks_per_batch} chunks per micro-batch"
    )
    print(f"{'run':>12} {'events':>7} {'events/s/core':>14} {'after batch 1':>14} {'latency p50 s':>14} {'latency p99 s':>14}")
    results = {"saturation": [], f"{args.rate:g} ev/s": []}
    with tempfile.TemporaryDirectory() as directory:
        replay = replay_copies(test_dir, directory, args.events_per_chunk, args.copies)
        for repeat in range(args.repeats):
            for name, events_per_second in (("saturation", 1e9), (f"{args.rate:g} ev/s", args.rate)):
                output = os.path.join(directory, f"{repeat}-{name.split()[0]}")
                spark = {**SPARK, "master": f"local[{CORES}]"}
                summary = run_stream(menu, replay, output, spark, CORES, events_per_second, args.chunks_per_batch, 900, log_dir=directory)
                metrics = pd.read_csv(os.path.join(output, "stream_metrics.tsv"), sep="\t")
                # From the first arrival to the last commit; and without the first micro-batch (its start-up).
                whole = summary["events_read"] / metrics.elapsed_s.iloc[-1] / CORES
                later = metrics.events_read.iloc[1:].sum() / (metrics.elapsed_s.iloc[-1] - metrics.elapsed_s.iloc[0]) / CORES
                results[name].append((whole, later, summary["latency_p50_s"], summary["latency_p99_s"]))
                print(
                    f"{name:>12} {summary['events_read']:>7} {whole:>14.0f} {later:>14.0f} {summary['latency_p50_s']:>14.2f} {summary['latency_p99_s']:>14.2f}"
                )
    for name, values in results.items():
        values = np.array(values)
        spread = values.std(axis=0, ddof=1) if len(values) > 1 else np.zeros(4)
        print(
            f"{name:>12} mean of {len(values)}: {values[:, 0].mean():.0f} +- {spread[0]:.0f} events/s/core "
            f"({values[:, 1].mean():.0f} +- {spread[1]:.0f} after the first micro-batch), "
            f"latency p50 {values[:, 2].mean():.2f} +- {spread[2]:.2f} s, p99 {values[:, 3].mean():.2f} +- {spread[3]:.2f} s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", default="results/features/test.parquet")
    parser.add_argument("--menu", default="results/export/inclusive/menu.json")
    parser.add_argument("--rate", type=float, default=500.0, help="replay rate of the latency runs (raw events/s)")
    parser.add_argument("--events-per-chunk", type=int, default=500)
    parser.add_argument("--chunks-per-batch", type=int, default=8)
    parser.add_argument("--copies", type=int, default=5, help="times the test events are streamed")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    for path in (args.features, args.menu):
        if not os.path.exists(path):
            sys.exit(f"{path}: missing; run the workflow first (make run)")
    logging.basicConfig(level=logging.WARNING)
    inference(args.features, args.repeats)
    streaming(args.menu, args.features, args)
    print(json.dumps({"machine": os.uname().nodename, "cores": CORES}))


if __name__ == "__main__":
    main()
