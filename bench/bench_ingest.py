"""Ingestion and feature-preparation benchmark on one core, side by side with a bare uproot read.

Reads the raw samples of the default workflow (results/raw/*/chunk_*.root: run `make run` first, or
pass --files), then prints events/s/core and compressed-input MB/s/core of:
  1. a bare uproot read of the ingestion's branches (the limit),
  2. the bare read plus writing the ingestion's output again (no selection, no features, no Spark):
     the best any ingestion writing this output can do,
  3. the Spark ingestion (local[1]: one core; Spark job time, session start excluded),
  4. the Spark feature preparation of the ingested events,
with the original study's rates (ingestion 11.7 ev/s/core = 0.97 MB/s/core; feature preparation
~2.9 ev/s/core), and the bytes per selected event of the ingestion and feature tables on disk.
Targets: ingestion >= 50 % of the bare read; feature preparation >= 3,000 selected ev/s/core.

    .venv/bin/python bench/bench_ingest.py [--files 'results/raw/*/chunk_*.root'] [--repeat 10]

``--repeat N`` ingests N copies of every file, so that Spark's fixed start-up costs (JVM, Python
workers, code generation: ~10 s) do not dominate the rates of a small sample.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import uproot

from dltrigger.core.files import write_parquet
from dltrigger.features import run_features
from dltrigger.ingest import run_ingest
from dltrigger.physics.observables import BRANCH_NAMES
from dltrigger.physics.preprocess import Preprocessing
from dltrigger.physics.quirks import CORRECTED

ORIGINAL_INGEST_EV_S, ORIGINAL_INGEST_MB_S, ORIGINAL_FEATURES_EV_S = 11.7, 0.97, 2.9
SPARK = {"master": "local[1,2]", "driver_memory": "4g", "executor_memory": "2g", "shuffle_partitions": 4, "event_log": False, "conf": {}}


def bare_read(files: list[str]) -> tuple[int, float]:
    start, events = time.process_time(), 0
    for path in files:
        with uproot.open(path) as file:
            events += len(file["Delphes"].arrays(BRANCH_NAMES, how=dict)[BRANCH_NAMES[0]])
    return events, time.process_time() - start


def rewrite(directory: str, scratch: str) -> float:
    """CPU seconds to write the Parquet parts of ``directory`` again, as the ingestion writes them."""
    import pyarrow.parquet as pq

    seconds = 0.0
    for path in sorted(Path(directory).glob("part-*.parquet")):
        table = pq.read_table(path)
        start = time.process_time()
        write_parquet(table, f"{scratch}/again.parquet")
        seconds += time.process_time() - start
    return seconds


def size_of(directory: str) -> int:
    return sum(path.stat().st_size for path in Path(directory).glob("part-*.parquet"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", default="results/raw/*/chunk_*.root")
    parser.add_argument("--repeat", type=int, default=10, help="copies of each file to ingest (default 10)")
    args = parser.parse_args()
    originals = sorted(glob.glob(args.files))
    if not originals:
        raise SystemExit(f"no files match {args.files!r}: run `make run` first or pass --files")
    with tempfile.TemporaryDirectory() as tmp:
        by_sample, files = {}, []
        for path in originals:
            manifest = json.loads((Path(path).parent / "manifest.json").read_text())
            sample = by_sample.setdefault(manifest["sample"], {"sample": manifest["sample"], "label": manifest["label"], "files": []})
            for copy in range(args.repeat):
                target = f"{tmp}/{manifest['sample']}_{Path(path).stem}_{copy}.root"
                shutil.copyfile(path, target)
                sample["files"].append(target)
                files.append(target)
        megabytes = sum(os.path.getsize(f) for f in files) / 1e6
        events, seconds = bare_read(files)
        rows = [("bare uproot read", events / seconds, megabytes / seconds)]
        ingest = run_ingest(list(by_sample.values()), f"{tmp}/events.parquet", f"{tmp}/cutflow.tsv", SPARK, 1, CORRECTED, 8000)
        floor = seconds + rewrite(f"{tmp}/events.parquet", tmp)
        rows.append(("bare read + output write", events / floor, megabytes / floor))
        rows.append(("Spark ingestion", ingest["events_read"] / ingest["job_seconds"], megabytes / ingest["job_seconds"]))
        outputs = {split: f"{tmp}/{split}" for split in ("train", "validation", "test")}
        files = dict(outputs, counts=f"{tmp}/counts.json", preprocessing=f"{tmp}/preprocessing.json")
        counts = run_features(f"{tmp}/events.parquet", files, SPARK, 1, 1, Preprocessing(CORRECTED, "per_event", "after"), 0.2, 0.1)
        selected = sum(counts["selected"].values())
        rows.append(("Spark feature preparation", selected / counts["job_seconds"], float("nan")))
        written = sum(sum(counts[split].values()) for split in outputs)
        disk = {"ingestion": size_of(f"{tmp}/events.parquet") / selected, "features": sum(size_of(path) for path in outputs.values()) / written}
    print(
        f"{len(files)} files ({args.repeat} copies of each), {events} events, {megabytes:.1f} MB; {selected} selected events into feature preparation"
    )
    print(f"{'step':28s} {'ev/s/core':>10s} {'MB/s/core':>10s} {'vs bare read':>12s} {'vs original':>12s}")
    reference = [None, None, ORIGINAL_INGEST_EV_S, ORIGINAL_FEATURES_EV_S]
    for (name, rate, mb_rate), original in zip(rows, reference):
        versus_original = f"{rate / original:11.0f}x" if original else ""
        print(f"{name:28s} {rate:10.0f} {mb_rate:10.2f} {rate / rows[0][1]:11.0%} {versus_original:>12s}")
    print(f"bytes per selected event on disk: ingestion {disk['ingestion']:.0f}, features {disk['features']:.0f}")
    print("targets: ingestion >= 50 % of the bare read; feature preparation >= 3,000 ev/s/core")


if __name__ == "__main__":
    main()
