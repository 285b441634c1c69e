"""The trigger's costs, side by side in one run: inference per event with onnxruntime and with torch, and
the streaming trigger's throughput and latency.

Inference: the HLF and inclusive classifiers (their shapes; the weights do not change the cost) on the
workflow's test events (``--features``, for their real particle counts), one thread, batches of 1 and
1,024, onnxruntime on the exported graph vs torch eager; microseconds per event, mean +- standard
deviation over ``--repeats``.

Streaming: the workflow's exported selector (``--menu``) on its replay (``--replay``; ``make run``
builds both) through the Spark Structured Streaming trigger on local[2], as the load study of
``snakemake studies`` runs it with the config's settings: at saturation (every chunk landed at once),
then at fractions of that rate; per point, mean +- spread over ``--repeats``: chunk latency p50 and p99
in steady state and of the start-up batch, raw events per second per core, the executors' CPU per
event, the median fixed cost of a micro-batch.

Anchors, for scale: the CMS High-Level Trigger's CPU budget is of order 100 ms per event; hls4ml runs a
small MLP in ~100 ns on an FPGA; a Spark Structured Streaming micro-batch costs of order 100 ms.
Goals: the inclusive selector at <= 1 ms per event with onnxruntime (batch 1,024, one core); the
stream's executors at <= 0.25 ms per event, >= 2,000 raw events/s/core at saturation, p99 <= 1 s at half
load.

    tests/loopback.sh .venv/bin/python bench/bench_trigger.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
from dltrigger.core.registry import MODELS  # noqa: E402
from dltrigger.models.onnx_models import onnx_session  # noqa: E402
from dltrigger.trigger.export import export_onnx, model_inputs  # noqa: E402

from helpers import SPARK  # noqa: E402
from machine import cpu_model  # noqa: E402

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


def streaming(menu: str, replay: str, args) -> None:
    """The load study of the workflow (``trigger.load.run_load_study``, its settings from the config):
    saturation, then the offered loads, each ``--repeats`` times; mean +- spread per point."""
    from dltrigger.core.config import load_config
    from dltrigger.trigger.load import run_load_study

    trigger = load_config(args.config)["trigger"]
    study = trigger["load_study"]
    print(
        f"\nstreaming trigger ({menu}), local[{CORES}]: the replay {replay} {study['copies']} times over, "
        f"at most {trigger['chunks_per_batch']} chunks per micro-batch; {args.repeats} repeats"
    )
    with tempfile.TemporaryDirectory() as directory:
        table = run_load_study(
            menu,
            replay,
            os.path.join(directory, "load.tsv"),
            {**SPARK, "master": f"local[{CORES}]"},
            CORES,
            study["loads"],
            args.repeats,
            study["copies"],
            trigger["chunks_per_batch"],
            900,
            log_dir=directory,
        )
    columns = ["latency_p50_s", "latency_p99_s", "first_batch_latency_s", "events_per_second_per_core", "executor_ms_per_event", "batch_overhead_s"]
    print(f"{'load':>10} " + " ".join(f"{name:>26}" for name in columns))
    for load, runs in table.groupby("load", sort=False):
        cells = [f"{runs[name].mean():>15.3f} +- {runs[name].std(ddof=1) if len(runs) > 1 else 0.0:<7.3f}" for name in columns]
        print(f"{'saturation' if load == 1 else f'{load:.0%}':>10} " + " ".join(f"{cell:>26}" for cell in cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", default="results/features/test.parquet")
    parser.add_argument("--menu", default="results/export/inclusive/menu.json")
    parser.add_argument("--replay", default="results/trigger/replay", help="the workflow's replay of the test events")
    parser.add_argument("--config", default="config/config.yaml", help="the trigger's settings (chunks per batch, the load study's)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    for path in (args.features, args.menu, args.replay):
        if not os.path.exists(path):
            sys.exit(f"{path}: missing; run the workflow first (make run)")
    logging.basicConfig(level=logging.WARNING)
    inference(args.features, args.repeats)
    print(cpu_model())
    streaming(args.menu, args.replay, args)


if __name__ == "__main__":
    main()
