"""Generation benchmark: throughput of each process through Pythia8, the fast simulation and the selection.

Prints, per process: Pythia events generated per CPU-second (one core), fast-simulation milliseconds per
simulated event, CPU-seconds per event passing the isolated-lepton selection, and MB per 1,000 written
events; then the issue's targets. Uses the settings of config/config.yaml (or --config).

    .venv/bin/python bench/bench_generate.py [--events 2000] [--config config/config.yaml]
"""

from __future__ import annotations

import argparse
import copy
import os
import tempfile
from pathlib import Path

from dltrigger.config import load_config
from dltrigger.delphes import read_delphes
from dltrigger.generate.chunk import generate_chunk
from dltrigger.observables import BRANCHES
from dltrigger.selection import isolated_lepton_mask

TARGETS = {"ttbar": "generated >= 100 ev/s/core", "wjets": "generated >= 100 ev/s/core", "qcd": "<= 0.5 CPU-s per selected event"}


def measure(config: dict, process: str, events: int, directory: Path) -> dict:
    config = copy.deepcopy(config)
    config["generate"]["processes"][process]["events_per_chunk"] = events
    root = directory / f"{process}.root"
    meta = generate_chunk(
        sample=f"bench_{process}",
        label=process,
        process=process,
        chunk=0,
        config=config,
        root_path=root,
        metadata_path=directory / f"{process}.json",
    )
    steps = meta["cpu_seconds_by_step"]
    selected = int(isolated_lepton_mask(read_delphes(root, BRANCHES)).sum())
    kept = meta["events_kept"]
    return {
        "process": process,
        "generated": meta["events_generated"],
        "copies": meta["redecay_copies"],
        "kept": kept,
        "selected": selected,
        "pythia_ev_per_s": meta["events_generated"] / steps["pythia"],
        "sim_ms_per_event": 1e3 * steps["detector"] / max(kept, 1),
        "cpu_s_per_selected": meta["cpu_seconds"] / max(selected, 1),
        "mb_per_1000": os.path.getsize(root) / 1e6 / max(kept, 1) * 1000,
        "cpu_s": meta["cpu_seconds"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="config/config.yaml")
    parser.add_argument("--events", type=int, default=2000, help="Pythia events per process (default 2000)")
    parser.add_argument("--processes", nargs="+", default=["ttbar", "wjets", "qcd"])
    args = parser.parse_args()
    config = load_config(args.config)
    header = f"{'process':8s} {'Pythia ev':>9s} {'copies':>6s} {'kept':>6s} {'selected':>8s} {'gen ev/s/core':>13s} {'sim ms/ev':>9s} {'CPU-s/selected':>14s} {'MB/1k ev':>8s}  target"
    print(header)
    with tempfile.TemporaryDirectory() as directory:
        for process in args.processes:
            r = measure(config, process, args.events, Path(directory))
            print(
                f"{r['process']:8s} {r['generated']:9d} {r['copies']:6d} {r['kept']:6d} {r['selected']:8d} "
                f"{r['pythia_ev_per_s']:13.1f} {r['sim_ms_per_event']:9.2f} {r['cpu_s_per_selected']:14.3f} "
                f"{r['mb_per_1000']:8.2f}  {TARGETS.get(process, '')}",
                flush=True,
            )
    print(f"pileup mu = {config['pileup']['mu']}; the original study did not generate events, so there is no reference rate.")


if __name__ == "__main__":
    main()
