"""Ingestion and feature-preparation benchmark on one core, side by side with a bare uproot read.

Reads the raw samples of the default workflow (results/raw/*/chunk_*.root: run `make run` first, or
pass --files), then prints events/s/core and compressed-input MB/s/core of:
  1. a bare uproot read of the ingestion's branches, in the ingestion's batches (the limit),
  2. the bare read plus writing the ingestion's output again (no selection, no features, no Spark):
     the best any ingestion writing this output can do,
  3. the Spark ingestion (local[1]: one core; tasks of the config's ingest.events_per_task; Spark job
     time, session start excluded),
  4. the Spark feature preparation of the ingested events,
with the original study's rates (ingestion 11.7 ev/s/core = 0.97 MB/s/core; feature preparation
~2.9 ev/s/core), and the bytes per selected event of the ingestion and feature tables on disk.
Then, in this process on the same events: the observables (selection, HLF, particle rows) per event with
the compiled kernels and with the numpy reference; their cost against the particles per event (the
events in quartiles of their particle count, all and the selected ones, and the log-log slope: 1 is linear); and the kernels' JIT
cost, compiling in a fresh cache and loading from it, each in a new process.
Targets: ingestion >= 50 % of the bare read; feature preparation >= 3,000 selected ev/s/core.

    .venv/bin/python bench/bench_ingest.py [--files 'results/raw/*/chunk_*.root'] [--repeat 10] [--rounds 3]

With pileup: --files on a sample generated with pileup.mu: 20 (config/paper-mini.yaml).

``--repeat N`` ingests N copies of every file, so that Spark's fixed start-up costs (JVM, Python
workers, code generation: ~10 s) do not dominate the rates of a small sample. ``--rounds R`` runs the
bare read and the ingestion R times, alternated, and prints the median and the range of each rate and of
the rounds' ratios.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import awkward as ak
import numpy as np
import uproot

from dltrigger.core.config import load_config
from dltrigger.core.files import write_parquet
from dltrigger.features import run_features
from dltrigger.ingest import batches, plan_tasks, run_ingest
from dltrigger.physics import observables
from dltrigger.physics.observables import BRANCH_NAMES
from dltrigger.physics.preprocess import Preprocessing
from dltrigger.physics.quirks import CORRECTED

from machine import cpu_model

ORIGINAL_INGEST_EV_S, ORIGINAL_INGEST_MB_S, ORIGINAL_FEATURES_EV_S = 11.7, 0.97, 2.9
SPARK = {"master": "local[1,2]", "driver_memory": "4g", "executor_memory": "2g", "shuffle_partitions": 4, "event_log": False, "conf": {}}


def bare_read(samples: list[dict], events_per_task: int) -> tuple[int, float]:
    """Events and CPU seconds of reading the ingestion's branches in the ingestion's batches (with
    pileup, a whole large file at once reads 5-11 % slower)."""
    tasks = plan_tasks(samples, events_per_task)
    start, events = time.process_time(), 0
    for task in tasks:
        with uproot.open(task["path"]) as file:
            tree = file["Delphes"]
            for first, last in batches(task):
                events += len(tree.arrays(BRANCH_NAMES, entry_start=first, entry_stop=last, how=dict)[BRANCH_NAMES[0]])
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


# The collections whose objects the cone sums run over (the isolation maps before their thresholds).
MAPS = ("EFlowTrack", "EFlowPhoton", "EFlowNeutralHadron")


def observables_cost(files: list[str], repeats: int = 3) -> None:
    """Per event, in this process: the observables with the compiled kernels and with the numpy reference
    (the best of ``repeats`` passes), and the compiled cost against the particles per event."""
    from dltrigger.physics import kernels

    kernels.warm_up()
    batches = [observables.read(path, None, None) for path in files]
    events = sum(len(batch["Event"]) for batch in batches)
    particles = np.concatenate([sum(ak.to_numpy(ak.num(batch[name])) for name in MAPS) for batch in batches])
    print(f"\nobservables in one process, {events} events, {particles.mean():.0f} particles per event (tracks, photons, neutral hadrons):")
    for compiled in (True, False):
        best = _best(repeats, _compute_all, batches, compiled)
        print(f"  {'compiled kernels' if compiled else 'numpy reference':18s} {best / events * 1e6:7.1f} us/event")
    # The events in quartiles of their particle count, each quartile computed as one batch (packed, as a
    # read batch is): all events, then the selected ones alone, since an event the selection drops costs
    # less (no particle rows) and the classes differ in both particles and selected fraction.
    everything = {name: ak.concatenate([batch[name] for batch in batches]) for name in batches[0]}
    starts = np.cumsum([0] + [len(batch["Event"]) for batch in batches])
    selected = np.concatenate([start + observables.compute(batch, CORRECTED)["entry"] for start, batch in zip(starts, batches)])
    for label, events_of in (("all events", np.arange(particles.size)), ("selected events", selected)):
        order = events_of[np.argsort(particles[events_of], kind="stable")]
        means, costs = [], []
        for quartile in np.array_split(order, 4):
            subset = {name: ak.to_packed(values[np.sort(quartile)]) for name, values in everything.items()}
            best = _best(repeats, observables.compute, subset, CORRECTED)
            means.append(particles[quartile].mean())
            costs.append(best / quartile.size * 1e6)
        quartiles = ", ".join(f"{mean:.0f}: {cost:.1f}" for mean, cost in zip(means, costs))
        slope = np.polyfit(np.log(means), np.log(costs), 1)[0]
        print(f"  {label}, quartiles of particles per event: us/event {quartiles}; cost ~ particles^{slope:.2f} (1: linear)")


def _compute_all(batches: list[dict], compiled: bool) -> None:
    for batch in batches:
        observables.compute(batch, CORRECTED, compiled=compiled)


def _best(repeats: int, work, *arguments) -> float:
    """The least CPU time of ``repeats`` calls of ``work(*arguments)``."""
    seconds = []
    for _ in range(repeats):
        start = time.process_time()
        work(*arguments)
        seconds.append(time.process_time() - start)
    return min(seconds)


def _spread(values: list[float], form: str) -> str:
    """The median of ``values`` and, for several, their range."""
    median = form.format(float(np.median(values)))
    return median if len(values) == 1 else f"{median} [{form.format(min(values))}-{form.format(max(values))}]"


def jit_cost() -> None:
    """The kernels' compilation in a fresh cache and their loading from it, each in a new process (the
    interpreter's and numba's imports timed apart)."""
    probe = (
        "import time; start = time.perf_counter(); import numba, dltrigger.physics.kernels as k; imported = time.perf_counter(); "
        "k.warm_up(); print(imported - start, time.perf_counter() - imported)"
    )
    with tempfile.TemporaryDirectory() as cache:
        environment = {**os.environ, "NUMBA_CACHE_DIR": cache}
        runs = [
            subprocess.run([sys.executable, "-c", probe], env=environment, capture_output=True, text=True, check=True).stdout.split()
            for _ in range(2)
        ]
    (imports, compiled), (_, loaded) = ([float(value) for value in run] for run in runs)
    print(
        f"\nJIT, per process: importing numba and the kernels {imports:.2f} s; compiling every kernel {compiled:.2f} s (once per machine: cached); loading them from the cache {loaded:.2f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", default="results/raw/*/chunk_*.root")
    parser.add_argument("--repeat", type=int, default=10, help="copies of each file to ingest (default 10)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the bare read and the ingestion, alternated (default 3)")
    parser.add_argument("--config", default="config/config.yaml", help="the workflow's settings (ingest.events_per_task)")
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
        events_per_task = load_config(args.config)["ingest"]["events_per_task"]  # the workflow's tasks
        # The bare read and the ingestion alternate, round by round: the host's speed drifts by up to
        # 30 % over minutes, so each round's ratio compares neighbours.
        bare, floor, ingestion = [], [], []
        for round_ in range(args.rounds):
            events, seconds = bare_read(list(by_sample.values()), events_per_task)
            output = f"{tmp}/events-{round_}.parquet"
            ingest = run_ingest(list(by_sample.values()), output, f"{tmp}/cutflow.tsv", SPARK, 1, CORRECTED, events_per_task)
            bare.append(seconds)
            floor.append(seconds + rewrite(output, tmp))
            ingestion.append(ingest["job_seconds"])
        # name, events/s/core of each round, whether the rates pair with the bare read's rounds
        rows = [
            ("bare uproot read", [events / seconds for seconds in bare], True),
            ("bare read + output write", [events / seconds for seconds in floor], True),
            ("Spark ingestion", [events / seconds for seconds in ingestion], True),
        ]
        outputs = {split: f"{tmp}/{split}" for split in ("train", "validation", "test")}
        files = dict(outputs, counts=f"{tmp}/counts.json", preprocessing=f"{tmp}/preprocessing.json")
        counts = run_features(output, files, SPARK, 1, 1, Preprocessing(CORRECTED, "per_event", "after"), 0.2, 0.1)
        selected = sum(counts["selected"].values())
        rows.append(("Spark feature preparation", [selected / counts["job_seconds"]], False))
        written = sum(sum(counts[split].values()) for split in outputs)
        disk = {"ingestion": size_of(output) / selected, "features": sum(size_of(path) for path in outputs.values()) / written}
    print(cpu_model())
    print(
        f"{len(originals) * args.repeat} files ({args.repeat} copies of each), {events} events, {megabytes:.1f} MB; {selected} selected events into feature preparation"
    )
    print(f"rates: the median of {args.rounds} rounds [least-most]; vs bare read: the median of each round's ratio [least-most]")
    print(f"{'step':28s} {'ev/s/core':>24s} {'MB/s/core':>10s} {'vs bare read':>20s} {'vs original':>12s}")
    reference = [None, None, ORIGINAL_INGEST_EV_S, ORIGINAL_FEATURES_EV_S]
    limit = rows[0][1]
    for (name, rates, paired), original in zip(rows, reference):
        rate = float(np.median(rates))
        # The feature preparation (selected events, one run) compares with the read's median.
        ratios = [value / bare_rate for value, bare_rate in zip(rates, limit)] if paired else [rate / float(np.median(limit))]
        megabytes_rate = f"{rate * megabytes / events:10.2f}" if paired else f"{'':10s}"
        versus_original = f"{rate / original:11.0f}x" if original else ""
        print(f"{name:28s} {_spread(rates, '{:.0f}'):>24s} {megabytes_rate} {_spread(ratios, '{:.0%}'):>20s} {versus_original:>12s}")
    print(f"bytes per selected event on disk: ingestion {disk['ingestion']:.0f}, features {disk['features']:.0f}")
    print("targets: ingestion >= 50 % of the bare read; feature preparation >= 3,000 ev/s/core")
    observables_cost(originals)
    jit_cost()


if __name__ == "__main__":
    main()
