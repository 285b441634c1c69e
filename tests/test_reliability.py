"""Reliability battery (issue 8) through the workflow itself: bad inputs named in one line with no partial
output and the other samples untouched, a read-only or full output disk, a job's one-line errors, a
generation job killed mid-write, and the driver's memory under 10x the default load."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import uproot
import yaml

from dltrigger.physics.delphes import SCHEMA, empty_collections, write_delphes
from dltrigger.physics.quirks import CORRECTED

from conftest import REPO, TABLE_END, TABLE_START
from helpers import HAND_BUILT, STAGE_SPARK, copy_workflow, delphes_file, snakemake, write_tree

SHEET = "sample\tlabel\tsource\tprocess\n"
# A small run to the raw W+jets sample: two chunks of 150 events, no pileup pool needed.
NO_PILEUP = {"pileup": {"mu": 0}, "generate": {"processes": {"wjets": {"events_per_chunk": 150}}}}


def can_mount() -> bool:
    return subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode == 0


def small_run_with_results_on(tmp_path: Path, mount: str):
    """The raw W+jets sample made by Snakemake in a private mount namespace whose results/ is ``mount``:
    a read-only bind mount of itself, or a small tmpfs that fills up (root ignores file permissions, a
    mount does not). Returns the workflow directory, the run, and the files left in results/."""
    workdir = copy_workflow(tmp_path)
    (workdir / "small.yaml").write_text(yaml.safe_dump(NO_PILEUP))
    (workdir / "results").mkdir()
    prepare = {"read-only": "mount --bind -o ro results results", "full": "mount -t tmpfs -o size=256k tmpfs results"}[mount]
    snakemake_path = Path(sys.executable).parent / "snakemake"
    command = f'{prepare} && {{ "{snakemake_path}" "$@"; status=$?; find results -type f > left.txt; exit $status; }}'
    args = ("results/raw/wjets/manifest.json", "--cores", "1", "--configfile", "small.yaml")
    result = subprocess.run(["unshare", "-m", "sh", "-c", command, "sh", *args], cwd=workdir, capture_output=True, text=True, timeout=600)
    return workdir, result, (workdir / "left.txt").read_text().split()


def digest(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("dltrigger: ")]


# ------------------------------------------------------------------------------------------------------
# Bad input files: each sample of an external sample sheet, beside a good one
# ------------------------------------------------------------------------------------------------------
def random_bytes(path: Path) -> None:
    path.write_bytes(np.random.default_rng(5).bytes(4000))


def truncated(path: Path, good: Path) -> None:
    data = good.read_bytes()
    path.write_bytes(data[: len(data) // 2])


BAD_FILES = {
    "random bytes": (lambda path, good: random_bytes(path), "{path}: not a readable ROOT file (ValueError: not a ROOT file"),
    "truncated": (truncated, "{path}: truncated ROOT file ("),
    "no Delphes tree": (lambda path, good: write_tree(path, {"x": np.arange(3.0)}, name="Events"), "{path}: no TTree 'Delphes' (found: Events)"),
    "missing branches": (lambda path, good: write_tree(path, {"Electron.PT": np.arange(3.0)}), "{path}: missing branches Event.Number, Event.Weight"),
    "no events": (lambda path, good: write_delphes(path, empty_collections()), "sample 'bad': its files hold no events ({path})"),
    "no selected events": (
        lambda path, good: delphes_file(path, [HAND_BUILT[2]] * 3),
        "sample 'bad': no event passes the isolated-lepton selection (3 read)",
    ),
}


@pytest.mark.reliability("bad input")
# 0 selected events needs a Spark job (~30 s); its stage-level twin is in the default set (test_spark_stages.py).
@pytest.mark.parametrize("case", [pytest.param(case, marks=[pytest.mark.slow] if case == "no selected events" else []) for case in BAD_FILES])
def test_a_bad_input_file_stops_ingestion_in_one_line_and_leaves_no_output(case, sanity_samples, tmp_path):
    make, message = BAD_FILES[case]
    workdir = copy_workflow(tmp_path)
    (workdir / "data").mkdir()
    good, other, bad = (workdir / "data" / f"{name}.root" for name in ("good", "other", "bad"))
    shutil.copy(sanity_samples["ttbar"][0], good)
    shutil.copy(sanity_samples["wjets"][0], other)
    make(bad, good)
    rows = ["good\tttbar\tdata/good.root\t", "other\twjets\tdata/other.root\t", "bad\tqcd\tdata/bad.root\t"]
    (workdir / "samples.tsv").write_text(SHEET + "\n".join(rows) + "\n")
    before = {path: digest(path) for path in (good, other, bad)}
    result = snakemake(workdir, "results/ingest/events.parquet", "--cores", "2", "--config", "samples=samples.tsv", check=False)
    assert result.returncode != 0
    expected = "dltrigger: " + message.format(path="data/bad.root")
    assert [line for line in error_lines(result.stderr) if line.startswith(expected)], result.stderr[-3000:]
    assert "Traceback" not in (workdir / "logs/ingest/ingest.log").read_text()  # an input problem, not a bug
    assert not (workdir / "results/ingest").exists() or os.listdir(workdir / "results/ingest") == []  # nothing partial
    assert (workdir / "results/raw/good/manifest.json").exists()  # the other sample is untouched
    assert {path: digest(path) for path in (good, other, bad)} == before  # raw inputs are never written


@pytest.mark.reliability("bad input")
def test_events_with_nan_or_inf_are_dropped_named_and_counted(tmp_path, caplog):

    from dltrigger.ingest import run_ingest

    broken = [HAND_BUILT[0], HAND_BUILT[3], HAND_BUILT[4]]  # HAND_BUILT[3] has MET = NaN
    path = delphes_file(tmp_path / "broken.root", broken)
    samples = [{"sample": "broken", "label": "ttbar", "files": [path]}]
    with caplog.at_level(logging.WARNING, logger="dltrigger"):
        result = run_ingest(samples, str(tmp_path / "events.parquet"), str(tmp_path / "cutflow.tsv"), STAGE_SPARK, 2, CORRECTED, events_per_task=2)
    assert f"{path}: 1 events with NaN or inf inputs dropped (cutflow row 'finite')" in caplog.messages
    assert result["cutflow"]["ttbar"]["read"] == 3 and result["cutflow"]["ttbar"]["finite"] == 2
    assert result["cutflow"]["ttbar"]["isolated lepton"] == 2


@pytest.mark.reliability("bad input")
def test_bad_config_keys_and_types_stop_before_any_job(tmp_path):
    workdir = copy_workflow(tmp_path)
    for setting, message in (
        ("trian={epochs: 2}", "config: (top level): Additional properties are not allowed ('trian' was unexpected)"),
        ("train={batch_size: many}", "config: key 'train.batch_size': 'many' is not of type 'integer'"),
    ):
        result = snakemake(workdir, "--cores", "1", "--config", setting, check=False)
        assert result.returncode == 1
        assert error_lines(result.stderr) == [f"dltrigger: invalid configuration: {message}"], result.stderr[-2000:]
        assert not (workdir / "results").exists()


@pytest.mark.reliability("bad input")
# ------------------------------------------------------------------------------------------------------
# The output disk: read-only, or full during a job
# ------------------------------------------------------------------------------------------------------
@pytest.mark.skipif(not can_mount(), reason="needs a private mount namespace (unshare -m)")
def test_a_read_only_results_directory_stops_the_run_before_any_job(tmp_path):
    workdir, result, left = small_run_with_results_on(tmp_path, "read-only")
    assert result.returncode == 1
    assert error_lines(result.stderr) == [
        "dltrigger: cannot write to results/ (Read-only file system): nothing was run; free space or make it writable"
    ], result.stderr[-2000:]
    assert not (workdir / "logs").exists() and left == []


@pytest.mark.reliability("bad input")
@pytest.mark.skipif(not can_mount(), reason="needs a private mount namespace (unshare -m)")
def test_a_disk_filling_up_during_a_job_is_named_and_leaves_no_partial_file(tmp_path):
    workdir, result, left = small_run_with_results_on(tmp_path, "full")
    assert result.returncode == 1
    lines = error_lines(result.stderr)
    failed = (
        re.fullmatch(r"dltrigger: cannot write (results/raw/wjets/chunk_00\d)\.(?:root|json): No space left on device", lines[0])
        if len(lines) == 1
        else None
    )
    assert failed, result.stderr[-2000:]
    assert not [path for path in left if path.startswith(failed.group(1)) or ".partial-" in path], left  # no part of the failed chunk
    logs = "".join(log.read_text() for log in (workdir / "logs/generate_chunk/wjets").glob("*.log"))
    assert "job failed: cannot write results/raw/wjets/chunk_00" in logs


@pytest.mark.reliability("bad input")
def test_a_job_reports_input_problems_in_one_line_and_bugs_with_their_traceback(tmp_path):
    log = tmp_path / "job.log"
    job = "from _helpers import job_log\nfrom dltrigger.core.errors import InputError\nwith job_log({log!r}):\n    {error}\n"
    scripts = {**os.environ, "PYTHONPATH": str(REPO / "scripts")}  # where Snakemake's preamble finds the adapters' helpers
    done = subprocess.run(
        [sys.executable, "-c", job.format(log=str(log), error="raise InputError('data/x.root: missing branches Jet.PT')")],
        capture_output=True,
        text=True,
        env=scripts,
    )
    assert done.returncode == 1 and done.stderr.splitlines() == ["dltrigger: data/x.root: missing branches Jet.PT"]
    assert "Traceback" not in log.read_text() and log.read_text().rstrip().endswith("job failed: data/x.root: missing branches Jet.PT")
    done = subprocess.run([sys.executable, "-c", job.format(log=str(log), error="1 / 0")], capture_output=True, text=True, env=scripts)
    assert done.returncode == 1 and "ZeroDivisionError" in done.stderr and "Traceback" in log.read_text()


# ------------------------------------------------------------------------------------------------------
# A generation job killed mid-write
# ------------------------------------------------------------------------------------------------------
def generate_by_hand(workdir: Path, env=None) -> subprocess.CompletedProcess:
    command = [sys.executable, "scripts/generate_chunk.py", "results/raw/wjets/chunk_000.root", "--configfile", "small.yaml"]
    return subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=600, env=env)


@pytest.mark.reliability("kill point")
def test_a_killed_generation_job_leaves_no_root_file_and_its_rerun_writes_the_same_events(tmp_path):
    runs = {}
    for name in ("killed", "clean"):
        (tmp_path / name).mkdir()
        runs[name] = copy_workflow(tmp_path / name)
        (runs[name] / "small.yaml").write_text(yaml.safe_dump(NO_PILEUP))
    markers = tmp_path / "markers"
    markers.mkdir()
    killed = generate_by_hand(runs["killed"], env={**os.environ, "DLTRIGGER_KILL_ONCE": f"generate-write:{markers}"})
    assert killed.returncode == -9  # SIGKILL while the ROOT file was being written
    raw = runs["killed"] / "results/raw/wjets"
    assert not (raw / "chunk_000.root").exists() and not (raw / "chunk_000.json").exists()
    assert [name for name in os.listdir(raw) if ".partial-" in name]  # what the killed writer left, under a temporary name

    assert generate_by_hand(runs["killed"]).returncode == 0  # the rerun (the marker makes the kill happen once)
    assert generate_by_hand(runs["clean"]).returncode == 0
    assert sorted(os.listdir(raw)) == ["chunk_000.json", "chunk_000.root"]  # the leftovers are gone
    with uproot.open(raw / "chunk_000.root") as rerun, uproot.open(runs["clean"] / "results/raw/wjets/chunk_000.root") as clean:
        assert rerun["Delphes"].num_entries == clean["Delphes"].num_entries > 0
        for branch in (f"{name}.{field}" for name, fields in SCHEMA.items() for field in fields):
            assert rerun["Delphes"][branch].array(library="ak").tolist() == clean["Delphes"][branch].array(library="ak").tolist(), branch
    metadata = [json.loads((run / "results/raw/wjets/chunk_000.json").read_text()) for run in (runs["killed"], runs["clean"])]
    assert metadata[0]["seeds"] == metadata[1]["seeds"] and metadata[0]["events_kept"] == metadata[1]["events_kept"]


# ------------------------------------------------------------------------------------------------------
# Load: 10x the default event count through ingestion and feature preparation
# ------------------------------------------------------------------------------------------------------
DEFAULT_EVENTS_READ = 4488  # what the default config's raw samples hold (README, stage 3)


def peak_rss_mb(pid: int | str = "self") -> float:
    """The peak resident memory (VmHWM) of a running process."""
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024


def run_stages_and_measure(samples_json: str, output: str) -> None:
    """Ingestion and feature preparation in this (fresh) process, as the workflow's jobs run them, with
    a 1 GB driver; prints the peak memory of the Python driver and of the driver JVM as JSON."""
    import psutil

    from dltrigger.features import run_features
    from dltrigger.ingest import run_ingest
    from dltrigger.physics.preprocess import Preprocessing

    spark = dict(STAGE_SPARK, driver_memory="1g")
    with open(samples_json) as handle:
        samples = json.load(handle)
    out = Path(output)
    ingested = run_ingest(samples, str(out / "events.parquet"), str(out / "cutflow.tsv"), spark, 2, CORRECTED, events_per_task=2000)
    outputs = {split: str(out / f"{split}.parquet") for split in ("train", "validation", "test")}
    outputs.update(counts=str(out / "counts.json"), preprocessing=str(out / "preprocessing.json"))
    counts = run_features(str(out / "events.parquet"), outputs, spark, 2, 7, Preprocessing(CORRECTED, "per_event", "after"), 0.2, 0.1)
    jvm = next(child for child in psutil.Process().children() if "java" in child.name())
    print(
        json.dumps(
            {
                "events_read": ingested["events_read"],
                "train": counts["train"],
                "test": counts["test"],
                "python_driver_mb": peak_rss_mb(),
                "jvm_driver_mb": peak_rss_mb(jvm.pid),
            }
        )
    )


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_ten_times_the_default_load_leaves_the_driver_memory_flat(sanity_samples, tmp_path):
    """Copies of the generated files make 1x and 10x the default run's events; the driver's peak memory
    is the same for both (no stage collects events to the driver) and within its configured 1 GB heap."""
    files = {process: root for process, (root, _) in sanity_samples.items()}
    per_copy = sum(uproot.open(root)["Delphes"].num_entries for root in files.values())
    measured = {}
    for load in (1, 10):
        copies = -(-load * DEFAULT_EVENTS_READ // per_copy)
        folder = tmp_path / f"x{load}"
        folder.mkdir()
        samples = []
        for process, root in files.items():
            linked = [folder / f"{process}_{copy:03d}.root" for copy in range(copies)]
            for path in linked:
                os.link(root, path)  # the same bytes, no copy: raw inputs are only read
            samples.append({"sample": process, "label": process, "files": [str(path) for path in linked]})
        (folder / "samples.json").write_text(json.dumps(samples))
        code = f"import test_reliability as t; t.run_stages_and_measure({str(folder / 'samples.json')!r}, {str(folder / 'out')!r})"
        done = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=1500)
        assert done.returncode == 0, done.stderr[-3000:]
        measured[load] = json.loads(done.stdout.strip().splitlines()[-1])
        assert measured[load]["events_read"] == copies * per_copy
        print(f"{load}x load: {measured[load]}")
    assert measured[10]["events_read"] >= 10 * DEFAULT_EVENTS_READ
    assert sum(measured[10]["train"].values()) > 9 * sum(measured[1]["train"].values())
    assert measured[10]["python_driver_mb"] < measured[1]["python_driver_mb"] + 100
    assert measured[10]["jvm_driver_mb"] < 1024 + 768  # the 1 GB heap and the JVM's own memory


def test_the_reliability_table_in_the_docs_is_the_one_the_suite_counts():
    """docs/reliability.md's table is what `pytest --collect-only --reliability-table` counts from the
    tests marked reliability(category): no number in it is typed in."""
    collected = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "--reliability-table", "-p", "no:cacheprovider"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    table = re.search(f"{re.escape(TABLE_START)}.*?{re.escape(TABLE_END)}", collected.stdout, flags=re.S)
    assert table, collected.stdout[-2000:] + collected.stderr[-2000:]
    assert table[0] in (REPO / "docs/reliability.md").read_text(), f"docs/reliability.md: replace its table with\n{table[0]}"
    rows = {row.split(" | ")[0].strip("| "): int(row.split(" | ")[1]) for row in table[0].splitlines()[3:-1]}
    assert all(count > 0 for count in rows.values()), rows
