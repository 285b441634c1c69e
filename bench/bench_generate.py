"""Generation benchmark: CPU-seconds per selected event of each process, the plain way and with the
config's cheaper settings (the leptonic-W prescale of tt̄ and W+jets, QCD's redecays per event), side by
side in one run, and whether the physics is the same (the isolated-lepton cross-section's pull, the
smallest Kolmogorov-Smirnov p-value of the 14 HLF).

"Plain" is the config's process without ``leptonic_w``, QCD with 50 redecays (the setting before;
without any, QCD costs ~23 CPU-s per selected event) and the lepton filter without its prescaled
isolation band. Selected events count rows; "effective" counts each generated event once with its copies
(redecays, replicas of prescaled events): (sum w)^2 / sum w^2. With pileup in the config, a pool of its
size is generated first and both settings draw from it.

    .venv/bin/python bench/bench_generate.py [--events 3000] [--config config/config.yaml] [--overlay config/paper-mini.yaml]
        [--processes ttbar wjets qcd]
"""

from __future__ import annotations

import argparse
import copy
import tempfile
from pathlib import Path

from dltrigger.core.config import load_config
from dltrigger.generate.chunk import generate_chunk
from dltrigger.generate.pileup import build_pool
from dltrigger.generate.validation import SelectedSample, compare

from machine import cpu_model

PLAIN = {"leptonic_w": None}
PLAIN_REDECAY = 50


def run(config: dict, process: str, events: int, directory: Path, name: str, pool: Path | None) -> tuple[dict, SelectedSample]:
    config = copy.deepcopy(config)
    config["generate"]["processes"][process]["events_per_chunk"] = events
    root = directory / f"{process}-{name}.root"
    meta = generate_chunk(
        sample=f"bench_{process}_{name}",
        label=process,
        process=process,
        chunk=0,
        config=config,
        root_path=root,
        metadata_path=directory / f"{process}-{name}.json",
        pileup_pool=pool,
    )
    return meta, SelectedSample.of([(str(root), meta)])


def pileup_pool(config: dict, directory: Path) -> Path | None:
    """With pileup in the config, a min-bias pool of its size written into ``directory``, for every
    setting to draw from; else None."""
    if config["pileup"]["mu"] <= 0:
        return None
    pool = directory / "pool.parquet"
    build_pool(pool, config["pileup"]["pool_events"], seed=config["seed"], sqrt_s_gev=config["generate"]["sqrt_s_gev"])
    return pool


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="config/config.yaml")
    parser.add_argument("--overlay", nargs="*", default=[], help="config files on top of --config, e.g. config/paper-mini.yaml")
    parser.add_argument("--events", type=int, default=3000, help="Pythia events per process and setting (default 3000)")
    parser.add_argument("--processes", nargs="+", default=["ttbar", "wjets", "qcd"])
    args = parser.parse_args()
    config = load_config(args.config, *args.overlay)
    print(f"CPU: {cpu_model()}; pileup mu = {config['pileup']['mu']}; {args.events} Pythia events per process and setting, one core")
    print(
        f"{'process':8s} {'setting':8s} {'copies':>6s} {'selected':>8s} {'effective':>9s} {'CPU s':>7s} {'CPU-s/selected':>14s} {'CPU-s/effective':>15s}"
    )
    with tempfile.TemporaryDirectory() as directory:
        pool = pileup_pool(config, Path(directory))
        for process in args.processes:
            plain = copy.deepcopy(config)
            plain["generate"]["lepton_filter"]["prescaled_above"] = None
            plain["generate"]["processes"][process].update(PLAIN)
            if process == "qcd":
                plain["generate"]["processes"][process]["redecay"] = PLAIN_REDECAY
            results = {}
            for name, settings in (("plain", plain), ("cheaper", config)):
                meta, sample = run(settings, process, args.events, Path(directory), name, pool)
                results[name] = (meta, sample)
                selected, effective = sample.group.size, sample.effective_events
                print(
                    f"{process:8s} {name:8s} {meta['redecay_copies']:6d} {selected:8d} {effective:9.0f} {meta['cpu_seconds']:7.1f} "
                    f"{meta['cpu_seconds'] / selected:14.4f} {meta['cpu_seconds'] / effective:15.4f}",
                    flush=True,
                )
            (plain_meta, plain_sample), (cheap_meta, cheap_sample) = results["plain"], results["cheaper"]
            speedup = (plain_meta["cpu_seconds"] / plain_sample.group.size) / (cheap_meta["cpu_seconds"] / cheap_sample.group.size)
            effective_speedup = (plain_meta["cpu_seconds"] / plain_sample.effective_events) / (
                cheap_meta["cpu_seconds"] / cheap_sample.effective_events
            )
            verdict = compare(plain_sample, cheap_sample)
            worst = min(verdict["ks"].items(), key=lambda item: item[1][1])
            sigma = verdict["cross_section_pb"]
            errors = verdict["cross_section_error_pb"]
            print(
                f"{process:8s} CPU-s per selected event {speedup:.2f}x fewer (per effective event {effective_speedup:.2f}x); "
                f"selected cross-section {sigma[0]:.4g} +- {errors[0]:.2g} -> {sigma[1]:.4g} +- {errors[1]:.2g} pb (pull {verdict['pull']:+.2f}); "
                f"smallest KS p-value {worst[1][1]:.3f} ({worst[0]})",
                flush=True,
            )
            if plain_meta["redecay_copies"] == 1:
                # Every independent selected event needs a shower of its own: a filter that showered only
                # the events that end up selected, at no cost, would save at most generated / selected.
                print(
                    f"{process:8s} ceiling per independent selected event: {plain_meta['events_generated'] / plain_sample.group.size:.2f}x "
                    f"(plain: {plain_meta['cpu_seconds'] / plain_meta['events_generated'] * 1e3:.1f} CPU-ms per generated event, "
                    f"{plain_sample.group.size / plain_meta['events_generated']:.3f} selected per generated event)",
                    flush=True,
                )
    print("goal: >= 3x fewer CPU-seconds per selected event for every class, the physics unchanged (|pull| < 3, KS p > 0.001)")


if __name__ == "__main__":
    main()
