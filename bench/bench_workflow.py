"""Whole-workflow timings: a plots-only rerun of a finished run, and the README's `make run` on a fresh clone.

    .venv/bin/python bench/bench_workflow.py plots          # in a workflow directory whose default run finished
    .venv/bin/python bench/bench_workflow.py fresh-clone [--into DIR]   # git clone of HEAD, then `make run`

`plots` forces every plotting rule to rerun (`--forcerun plot_roc plot_trigger ...`) and prints the wall
time of that Snakemake call (goal: <= 30 s on 2 cores). `fresh-clone` prints the wall time of the set-up
(building .venv from the lock; pip's download cache of this machine is reused, so a machine that has
never downloaded the packages takes longer) and of the workflow to the HTML report (goal for both:
<= 15 min on 2 cores), and the per-stage times from the Snakemake benchmark files.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PLOT_RULES = ("plot_roc", "plot_trigger", "plot_model", "plot_cutflow", "plot_features")


def timed(command: list[str], cwd: Path) -> float:
    print("$", " ".join(command), flush=True)
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True)
    return time.perf_counter() - started


def plots_rerun(workdir: Path, cores: int) -> None:
    snakemake = str(Path(sys.executable).parent / "snakemake")
    seconds = timed([snakemake, "--cores", str(cores), "--quiet", "--forcerun", *PLOT_RULES], workdir)
    print(f"plots-only rerun ({len(PLOT_RULES)} rules, {cores} cores): {seconds:.1f} s (goal <= 30 s)")


def fresh_clone(cores: int, into: Path | None) -> None:
    with tempfile.TemporaryDirectory(prefix="dltrigger-clone-") as scratch:
        clone = into or Path(scratch) / "dltrigger"
        subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True)
        setup = timed(["make", "setup"], clone)
        workflow = timed(["make", "run", f"SNAKEMAKE_ARGS=--cores {cores} --quiet"], clone)
        summary = (clone / "results/summary.md").read_text()
        timings = summary[summary.index("## Stage timings") : summary.index("## Software")]
        print(timings.strip())
        assert (clone / "results/report.html").stat().st_size > 0
        total = setup + workflow
        print(f"fresh clone, {cores} cores: set-up {setup:.0f} s + workflow to the report {workflow:.0f} s = {total / 60:.1f} min (goal <= 15 min)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["plots", "fresh-clone"])
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--workdir", type=Path, default=REPO, help="workflow directory of a finished run (plots)")
    parser.add_argument("--into", type=Path, default=None, help="clone into this new directory and keep it (fresh-clone; default: a temporary one)")
    args = parser.parse_args()
    if args.what == "plots":
        plots_rerun(args.workdir, args.cores)
    else:
        fresh_clone(args.cores, args.into)


if __name__ == "__main__":
    main()
