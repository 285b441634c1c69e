"""Whole-workflow timings: the README's `make run` on a fresh clone with an empty pip cache and its stage
split, and a plots-only rerun of a finished run.

    .venv/bin/python bench/bench_workflow.py fresh-clone [--into DIR] [--configfile F ...] [--output FILE]
    .venv/bin/python bench/bench_workflow.py stages [--workdir DIR]   # the stage split of a finished run
    .venv/bin/python bench/bench_workflow.py plots                    # in a workflow directory whose default run finished

`fresh-clone` clones HEAD, runs `make setup` with an empty pip cache (a folder of its own: nothing of
this machine's earlier downloads is reused) and `make run` (the workflow to the HTML report; extra
config files go to Snakemake), and prints the stage split: the machine's CPU model and cores; events
per class (generated, selected); training, validation and test events; per stage its jobs, their summed
wall time and its elapsed span (from each job's benchmark file: written when the job ends, its wall
time before that), and the total (goal: <= 15 min on the slower of our 2-core machines). `--output`
writes the same as JSON. `plots` forces every plotting rule to rerun and prints the wall time of that
Snakemake call (goal: <= 30 s on 2 cores).
"""

from __future__ import annotations

import argparse
import csv
import glob
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import cpu_model

REPO = Path(__file__).resolve().parents[1]
PLOT_RULES = ("plot_roc", "plot_trigger", "plot_model", "plot_cutflow", "plot_features")
# The workflow's stages, by the rules of their jobs (benchmarks/<rule>/).
STAGES = {
    "generation": ("pileup_pool", "generate_chunk", "sample_manifest"),
    "ingestion and features": ("ingest", "features"),
    "training": ("keras_env", "bigdl_env", "train", "train_trees"),
    "evaluation": ("evaluate", "trigger_rates", "uncertainties", "evaluation_tables", "summary"),
    "export and streaming trigger": ("export_onnx", "replay_chunks", "stream_trigger"),
    "figures": ("plot_roc", "plot_trigger", "plot_model", "plot_cutflow", "plot_features", "plot_stream"),
}


def timed(command: list[str], cwd: Path, env: dict | None = None) -> float:
    print("$", " ".join(command), flush=True)
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, env=env)
    return time.perf_counter() - started


def jobs(workdir: Path) -> list[dict]:
    """Every job of a finished run: rule, wall seconds, start and end (its benchmark file's time)."""
    found = []
    for path in glob.glob(str(workdir / "benchmarks" / "**" / "*.tsv"), recursive=True):
        rule = Path(path).relative_to(workdir / "benchmarks").parts[0]
        with open(path) as handle:
            seconds = float(next(csv.DictReader(handle, delimiter="\t"))["s"])
        end = os.path.getmtime(path)
        found.append({"rule": rule, "seconds": seconds, "start": end - seconds, "end": end})
    return found


def stage_split(workdir: Path) -> list[dict]:
    """Per stage: its jobs, their summed wall time, and its elapsed span."""
    run_jobs = jobs(workdir)
    rows = []
    for stage, rules in STAGES.items():
        mine = [job for job in run_jobs if job["rule"] in rules]
        if mine:
            span = max(job["end"] for job in mine) - min(job["start"] for job in mine)
            rows.append({"stage": stage, "jobs": len(mine), "job_seconds": sum(job["seconds"] for job in mine), "elapsed_seconds": span})
    others = sorted({job["rule"] for job in run_jobs} - {rule for rules in STAGES.values() for rule in rules})
    if others:
        raise SystemExit(f"rules without a stage in bench_workflow.STAGES: {', '.join(others)}")
    workflow = max(job["end"] for job in run_jobs) - min(job["start"] for job in run_jobs)
    rows.append({"stage": "all jobs", "jobs": len(run_jobs), "job_seconds": sum(job["seconds"] for job in run_jobs), "elapsed_seconds": workflow})
    return rows


def events(workdir: Path) -> dict:
    """Generated and selected events per class, and the training, validation and test events."""
    counts = json.loads((workdir / "results/features/counts.json").read_text())
    generated = {}
    for manifest in glob.glob(str(workdir / "results/raw/*/manifest.json")):
        data = json.loads(Path(manifest).read_text())
        generated[data["label"]] = generated.get(data["label"], 0) + data.get("events_generated", 0)
    return {
        "generated": generated,
        "selected": counts["selected"],
        **{split: sum(counts.get(split, {}).values()) for split in ("train", "validation", "test")},
    }


def report(workdir: Path, measured: dict) -> dict:
    """Print and return the stage split of a finished run in ``workdir``, with the times measured around it."""
    result = {"machine": cpu_model(), "events": events(workdir), "stages": stage_split(workdir), **measured}
    split = result["events"]
    print(f"machine: {result['machine']}")
    print(f"events per class: generated {split['generated']}, selected {split['selected']}")
    print(f"training / validation / test events: {split['train']} / {split['validation']} / {split['test']}")
    print(f"{'stage':30s} {'jobs':>5s} {'job s':>8s} {'elapsed s':>10s}")
    for row in result["stages"]:
        print(f"{row['stage']:30s} {row['jobs']:5d} {row['job_seconds']:8.0f} {row['elapsed_seconds']:10.0f}")
    for name, seconds in measured.items():
        print(f"{name:30s} {'':5s} {'':8s} {seconds:10.0f}")
    return result


def plots_rerun(workdir: Path, cores: int) -> None:
    snakemake = str(Path(sys.executable).parent / "snakemake")
    seconds = timed([snakemake, "--cores", str(cores), "--quiet", "--forcerun", *PLOT_RULES], workdir)
    print(f"plots-only rerun ({len(PLOT_RULES)} rules, {cores} cores): {seconds:.1f} s (goal <= 30 s)")


def fresh_clone(cores: int, into: Path | None, configfiles: list[str], output: Path | None) -> None:
    with tempfile.TemporaryDirectory(prefix="dltrigger-clone-") as scratch:
        clone = into or Path(scratch) / "dltrigger"
        subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True)
        env = {**os.environ, "PIP_CACHE_DIR": str(Path(scratch) / "empty-pip-cache")}  # nothing downloaded before is reused
        setup = timed(["make", "setup"], clone, env)
        extra = f" --configfile {' '.join(str(Path(f).resolve()) for f in configfiles)}" if configfiles else ""
        workflow = timed(["make", "run", f"SNAKEMAKE_ARGS=--cores {cores} --quiet{extra}"], clone, env)
        assert (clone / "results/report.html").stat().st_size > 0
        total = setup + workflow
        result = report(clone, {"set-up (empty pip cache)": setup, "make run (workflow and report)": workflow, "total": total})
        print(f"fresh clone, {cores} cores: {total / 60:.1f} min (goal <= 15 min on the slower of our machines)")
        if output:
            output.write_text(json.dumps(result, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["fresh-clone", "stages", "plots"])
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--workdir", type=Path, default=REPO, help="workflow directory of a finished run (stages, plots)")
    parser.add_argument("--into", type=Path, default=None, help="clone into this new directory and keep it (fresh-clone; default: a temporary one)")
    parser.add_argument("--configfile", nargs="*", default=[], help="config files after the default one (fresh-clone), e.g. config/paper-mini.yaml")
    parser.add_argument("--output", type=Path, default=None, help="write the stage split as JSON here (fresh-clone)")
    args = parser.parse_args()
    if args.what == "plots":
        plots_rerun(args.workdir, args.cores)
    elif args.what == "stages":
        report(args.workdir, {})
    else:
        fresh_clone(args.cores, args.into, args.configfile, args.output)


if __name__ == "__main__":
    main()
