"""The Snakemake workflow itself: dry run, lint, a tiny real run, reruns, and bad config before any job."""

from __future__ import annotations

import contextlib
import copy
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import slurm_cluster
import uproot
import yaml
from sklearn.metrics import roc_auc_score

from dltrigger.core.registry import ENGINES, MODELS, REGISTRY, TREE_MODELS
from dltrigger.tools.environments import is_built

from conftest import REPO
from helpers import SNAKEMAKE, SPARK, copy_workflow, snakemake, write_features

TINY = {
    "generate": {
        "processes": {
            "ttbar": {"chunks": 2, "events_per_chunk": 40},
            "wjets": {"chunks": 1, "events_per_chunk": 80},
            # ~20 QCD events pass the selection: enough for every class to reach the test set.
            "qcd": {"chunks": 1, "events_per_chunk": 300, "hard_process_veto": {"flavours": [4, 5], "eta_max": 2.5}, "redecay": 50},
        }
    },
    "pileup": {"mu": 3, "pool_events": 30},
    # A quarter of the ~40 training events validate: every class among them.
    "features": {"validation_fraction": 0.25},
    # Two epochs of the inclusive network: a run stopped after the first resumes from its checkpoint. A
    # patience per network, each at least its epochs: every epoch runs, and the best one is the model.
    "train": {
        "models": ["hlf", "inclusive", "xgboost"],
        "epochs": {"hlf": 1, "inclusive": 2},
        "batch_size": 4,
        "early_stopping": {"patience": {"hlf": 3, "inclusive": 2}},
        # The inclusive network (the trigger's) an ensemble of two, as by default: trained, exported and
        # streamed as one; the HLF network a single training.
        "ensemble": {"hlf": 1, "inclusive": 2},
    },
    "evaluate": {"bootstrap_resamples": 200},
    # The test events (~12) replayed in chunks of 2: several micro-batches.
    "trigger": {"events_per_chunk": 2, "events_per_second": 50, "chunks_per_batch": 2},
    # The scalability measurement (two fresh clusters, ~4 min here) has its own slow test.
    "scalability": {
        "workers": [1, 2],
        "worker_memory": "1g",
        "executor_memory": "512m",
        "ingest_repeats": 2,
        "repeats": 3,
        "model": "hlf",
        "epochs": 4,
    },
}
# The engine comparison: BigDL in the environment `make test` built beforehand (the tests have no network);
# without a Python 3.10 on the machine, the other engines only.
BIGDL_ENVIRONMENT = REPO / ".venvs" / "bigdl"
COMPARED_ENGINES = ["torch", "bigdl"] if is_built(str(BIGDL_ENVIRONMENT), str(REPO / "envs" / "bigdl.lock")) else ["torch", "keras"]
TINY["train"]["bigdl"] = {"environment": str(BIGDL_ENVIRONMENT)}
TINY["compare_engines"] = {"engines": COMPARED_ENGINES, "models": ["hlf"], "epochs": 2}
# The networks of the tiny run, for the runs that are compared with it network by network.
TINY_NETWORKS = {**TINY, "train": {**TINY["train"], "models": ["hlf", "inclusive"]}}


def job_counts(result) -> dict:
    return dict(re.findall(r"^(\w+)\s+(\d+)$", result.stdout, flags=re.M))


DEFAULT_JOBS = {
    "generate_chunk": "10",
    "sample_manifest": "3",
    "ingest": "1",
    "features": "1",
    "train": "3",
    "train_trees": "2",
    "evaluate": "5",
    "trigger_rates": "1",
    "uncertainties": "1",
    "evaluation_tables": "1",
    "summary": "1",
    "plot_roc": "1",
    "plot_trigger": "1",
    "plot_model": "1",
    "plot_cutflow": "1",
    "plot_features": "1",
    "export_onnx": "3",
    "replay_chunks": "1",
    "stream_trigger": "1",
    "plot_stream": "1",
    "all": "1",
}
DEFAULT_TOTAL = str(sum(int(n) for n in DEFAULT_JOBS.values()))


def test_dry_run_and_lint_pass_on_the_default_config(tmp_path):
    """The default target is the study; the side studies (scalability, engine comparison with BigDL, the
    trigger's latency against offered load) and the export to the original's schema are targets of their
    own. Of the study's networks, the side studies train only the trigger's selector."""
    workdir = copy_workflow(tmp_path)
    dry = snakemake(workdir, "-n", "--cores", "1", "--quiet", "rules")
    assert job_counts(dry) == {**DEFAULT_JOBS, "total": DEFAULT_TOTAL}
    studies = job_counts(snakemake(workdir, "studies", "-n", "--cores", "1", "--quiet", "rules"))
    assert {
        "scalability": "1",
        "plot_scalability": "1",
        "compare_train": "6",
        "engine_comparison": "1",
        "plot_engine_comparison": "1",
        "train": "1",
        "export_onnx": "1",
        "stream_load": "1",
        "plot_stream_load": "1",
    }.items() <= studies.items()
    assert "summary" not in studies and "stream_trigger" not in studies
    export = job_counts(snakemake(workdir, "original_schema", "-n", "--cores", "1", "--quiet", "rules"))
    assert export["export_original_schema"] == "1" and "train" not in export
    lint = snakemake(workdir, "--lint", "--cores", "1")
    assert "Congratulations" in lint.stdout + lint.stderr


def test_without_python_310_the_bigdl_environment_fails_in_one_line(tmp_path):
    """Whether BigDL takes part is the config's choice (compare_engines.engines, train.engine), not a
    probe: on a machine without Python 3.10 its environment job stops with one line naming the setting."""
    workdir = copy_workflow(tmp_path)
    env = {
        **os.environ,
        "PYENV_ROOT": str(tmp_path / "no-pyenv"),
        "PATH": os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if "pyenv" not in p),
    }
    system_python = shutil.which("python3.10", path=env["PATH"])
    if system_python:
        pytest.skip(f"{system_python} is on the PATH outside pyenv: this machine cannot be made one without Python 3.10")
    (workdir / "bigdl.yaml").write_text(yaml.safe_dump({"train": {"bigdl": {"environment": str(tmp_path / "bigdl-environment")}}}))
    result = snakemake(workdir, "bigdl_env", "--cores", "1", "--configfile", "bigdl.yaml", check=False, env=env)
    assert result.returncode != 0 and not (tmp_path / "bigdl-environment").exists()
    assert "dltrigger: train.bigdl.python: no Python 3.10 found for the BigDL engine" in result.stderr


# Slow (~40 s: a workflow run of its own), to keep make test under 25 min.
@pytest.mark.slow
def test_published_feature_tables_train_and_evaluate_without_events(tmp_path):
    """features.external naming tables in the original study's published schema (as its
    *Undersampled_InclusiveClassifier.parquet): no generation, ingestion or feature preparation; the
    classifiers train and are evaluated, with tables, figures and summary, and no trigger rates."""
    workdir = copy_workflow(tmp_path)
    tables = {split: f"data/{split}Undersampled_InclusiveClassifier.parquet" for split in ("train", "test")}
    write_features(workdir / tables["train"], 120, seed=1, layout="original")
    write_features(workdir / tables["test"], 60, seed=2, layout="original")
    settings = {
        "features": {"external": tables},
        "train": {"models": ["hlf"], "epochs": {"hlf": 2}, "batch_size": 16},
        "evaluate": {"bootstrap_resamples": 200},
    }
    (workdir / "external.yaml").write_text(yaml.safe_dump(settings))
    planned = job_counts(snakemake(workdir, "-n", "--cores", "1", "--configfile", "external.yaml", "--quiet", "rules"))
    assert planned == {
        "train": "1",
        "evaluate": "1",
        "trigger_rates": "1",
        "uncertainties": "1",
        "evaluation_tables": "1",
        "summary": "1",
        "plot_roc": "1",
        "plot_trigger": "1",
        "plot_model": "1",
        "all": "1",
        "total": "10",
    }
    snakemake(workdir, "--cores", "2", "--configfile", "external.yaml")
    assert not (workdir / "results/raw").exists() and not (workdir / "results/ingest").exists()
    assert json.loads((workdir / "results/evaluate/rates.json").read_text())["rate_hz"] == {"qcd": None, "ttbar": None, "wjets": None}
    auc = pd.read_csv(workdir / "results/evaluate/torch/auc.tsv", sep="\t")
    assert auc.test_events.tolist() == [60] * 3 and (auc.auc > 0.5).all() and (auc.auc_error > 0).all()
    assert "60 test events" in (workdir / "results/summary.md").read_text()


@pytest.mark.reliability("bad input")
def test_a_sample_sheet_without_every_class_stops_before_any_job(tmp_path):
    workdir = copy_workflow(tmp_path)
    (workdir / "config" / "samples.tsv").write_text("sample\tlabel\tsource\tprocess\nttbar\tttbar\tgenerate\tttbar\nwjets\twjets\tgenerate\twjets\n")
    result = snakemake(workdir, "-n", "--cores", "1", check=False)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "dltrigger: invalid configuration: config/samples.tsv: no sample of class qcd: the classifiers need all of qcd, ttbar, wjets"
    )


@pytest.mark.parametrize("profile", ["slurm", "htcondor", "spark-standalone", "kubernetes"])
def test_cluster_profiles_dry_run(tmp_path, profile):
    workdir = copy_workflow(tmp_path)
    dry = snakemake(workdir, "-n", "--profile", f"profiles/{profile}", "--quiet", "rules")
    assert job_counts(dry)["total"] == DEFAULT_TOTAL, dry.stdout[-2000:]


@pytest.mark.parametrize(
    ("overlay", "master", "expected"),
    [
        (
            "spark-yarn",
            "yarn",
            {
                "spark.submit.deployMode": "client",
                "spark.pyspark.python": "./environment/bin/python",
                "spark.yarn.dist.archives": "dltrigger-env.tar.gz#environment",
            },
        ),
        (
            "spark-k8s",
            "k8s://https://kubernetes.default.svc:443",
            {
                "spark.submit.deployMode": "client",
                "spark.kubernetes.namespace": "dltrigger",
                "spark.kubernetes.executor.volumes.persistentVolumeClaim.work.mount.path": "/work",
            },
        ),
    ],
)
def test_yarn_and_kubernetes_spark_settings_dry_run(tmp_path, default_config, overlay, master, expected):
    """The documented overlays validate, dry-run, and give the Spark sessions these settings (no loopback
    binding, the original's fixed executors for training)."""
    from snakemake.utils import update_config

    from dltrigger.core.config import validate_config
    from dltrigger.core.spark import session_settings

    workdir = copy_workflow(tmp_path)
    dry = snakemake(workdir, "-n", "--cores", "1", "--configfile", f"config/{overlay}.yaml", "--quiet", "rules")
    assert job_counts(dry)["total"] == DEFAULT_TOTAL, dry.stdout[-2000:]
    config = copy.deepcopy(default_config)
    update_config(config, yaml.safe_load((REPO / "config" / f"{overlay}.yaml").read_text()))
    resolved_master, settings = session_settings(validate_config(config)["spark"], threads=4)
    assert resolved_master == master
    assert expected.items() <= settings.items()
    assert settings["spark.dynamicAllocation.enabled"] == "false" and settings["spark.speculation"] == "false"
    assert "spark.driver.bindAddress" not in settings and "spark.ui.enabled" not in settings


def test_the_keras_engine_is_chosen_in_config(tmp_path):
    """engine: keras trains every network with tf-keras, whose package layer (TensorFlow) is built first,
    once, and only then: the default run plans no keras_env job (its job counts above)."""
    workdir = copy_workflow(tmp_path)
    (workdir / "keras.yaml").write_text(yaml.safe_dump({"train": {"engine": "keras", "ensemble": 1}}))
    dry = snakemake(workdir, "-n", "--cores", "1", "--configfile", "keras.yaml")
    for model in ("hlf", "particle", "inclusive"):
        assert f"results/train/keras/{model}/model.keras" in dry.stdout
    planned = job_counts(snakemake(workdir, "-n", "--cores", "1", "--configfile", "keras.yaml", "--quiet", "rules"))
    assert planned["keras_env"] == "1" and planned["train"] == "3" and "keras_env" not in DEFAULT_JOBS


@pytest.mark.skipif(COMPARED_ENGINES[-1] != "bigdl", reason="no BigDL environment (no Python 3.10 on this machine)")
def test_the_bigdl_engine_is_chosen_in_config(tmp_path):
    """engine: bigdl trains every model in the BigDL environment, built first, and feeds the same
    evaluation and figures as the other engines."""
    workdir = copy_workflow(tmp_path)
    (workdir / "bigdl.yaml").write_text(yaml.safe_dump({"train": {"engine": "bigdl", "ensemble": 1}}))
    dry = snakemake(workdir, "-n", "--cores", "1", "--configfile", "bigdl.yaml")
    for model in ("hlf", "particle", "inclusive"):
        assert f"results/train/bigdl/{model}/model.bigdl" in dry.stdout and f"results/evaluate/bigdl/{model}/metrics.json" in dry.stdout
    assert "rule bigdl_env:" in dry.stdout and "results/plots/bigdl/roc_ttbar.png" in dry.stdout


@pytest.mark.slow
def test_paper_config_dry_run_fans_out_generation(tmp_path):
    dry = snakemake(copy_workflow(tmp_path), "-n", "--cores", "1", "--configfile", "config/paper.yaml", "--quiet", "rules")
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", dry.stdout, flags=re.M))
    assert int(counts["generate_chunk"]) == 520 + 450 + 1600
    assert int(counts["pileup_pool"]) == 1


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    """The tiny config run to the end in local mode (shared: the cluster test compares against it). Its
    cost is its own: ~3 min on 2 cores, bounded here, not charged to the first test that uses it."""
    workdir = copy_workflow(tmp_path_factory.mktemp("tiny"))
    (workdir / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    snakemake(workdir, "all", "--cores", "2", "--configfile", "tiny.yaml", env={**os.environ, **CREDENTIALS}, timeout=1500)
    return workdir


# Credentials as a user's environment carries them (XRootD token, Kerberos cache): no file may repeat them.
CREDENTIALS = {"BEARER_TOKEN": "dltrigger-test-token-5f3a9c", "KRB5CCNAME": "FILE:/tmp/dltrigger-test-krb5cc-77e1"}


def test_tiny_workflow_runs_and_reruns_nothing(tiny_run):
    workdir = tiny_run

    kept_by_class = {}
    for sample, chunks in (("ttbar", 2), ("wjets", 1), ("qcd", 1)):
        manifest = json.loads((workdir / f"results/raw/{sample}/manifest.json").read_text())
        assert manifest["files"] == [f"results/raw/{sample}/chunk_{i:03d}.root" for i in range(chunks)]
        assert manifest["events_generated"] == {"ttbar": 40, "wjets": 80, "qcd": 300}[sample] * chunks
        kept = 0
        for path in manifest["files"]:
            with uproot.open(workdir / path) as file:
                kept += file["Delphes"].num_entries
        assert kept == manifest["events_kept"]
        kept_by_class[sample] = kept
        assert (workdir / f"logs/generate_chunk/{sample}/chunk_000.log").stat().st_size > 0
        assert (workdir / f"benchmarks/generate_chunk/{sample}/chunk_000.tsv").exists()
    assert (workdir / "results/pileup/minbias_pool.parquet").exists()
    # ... then through the Spark stages to the train/test sets.
    cutflow = (workdir / "results/ingest/cutflow.tsv").read_text().splitlines()
    assert cutflow[0] == "cut\tqcd\tttbar\twjets" and cutflow[1].split("\t")[1:] == [str(kept_by_class[c]) for c in ("qcd", "ttbar", "wjets")]
    counts = json.loads((workdir / "results/features/counts.json").read_text())
    assert all(n > 0 for n in counts["selected"].values())
    for split in ("train", "validation", "test"):
        assert (workdir / f"results/features/{split}.parquet/_SUCCESS").exists()
        assert sum(counts[split].values()) == pq.read_table(workdir / f"results/features/{split}.parquet").num_rows
    assert (workdir / "benchmarks/ingest/ingest.tsv").exists() and (workdir / "logs/features/features.log").exists()
    # ... and through distributed training of each configured classifier.
    for model in ("hlf", "inclusive"):  # the networks (the XGBoost baseline below)
        trained, epochs = workdir / "results/train/torch" / model, TINY["train"]["epochs"][model]
        history, members = json.loads((trained / "history.json").read_text()), TINY["train"]["ensemble"][model]
        assert [row.get("member", 0) for row in history] == [member for member in range(members) for _ in range(epochs)]
        assert history[0]["train_events"] == 2 * (sum(counts["train"].values()) // 2)
        assert pq.read_table(trained / "predictions.parquet").num_rows == sum(counts["test"].values())
        assert (trained / "model.torch").exists() and f"epoch {epochs}/{epochs}" in (workdir / f"logs/train/torch/{model}.log").read_text()
        assert json.loads((trained / "training_config.json").read_text())["patience"] == TINY["train"]["early_stopping"]["patience"][model]

    # ... exported to ONNX with their trigger menus, checked against torch on every test event ...
    tested = sum(counts["test"].values())
    menus = {model: json.loads((workdir / f"results/export/{model}/menu.json").read_text()) for model in ("hlf", "inclusive")}
    for model, menu in menus.items():
        assert menu["model"] == model and (workdir / f"results/export/{model}/model.onnx").stat().st_size > 0
        assert menu["validation"]["test_events"] == tested and menu["validation"]["largest_probability_difference"] <= 1e-5
        assert list(menu["paths"]) == ["ttbar", "wjets"] and all(0 < path["threshold"] < 1 for path in menu["paths"].values())
        assert all(path["efficiency"][name] >= 0.99 for name, path in menu["paths"].items()) and menu["rate_hz"] > 0
        assert 0 <= menu["rate_hz_error"] < menu["rate_hz"] and all(0 <= e < 0.5 for e in menu["efficiency_error"].values())
    # ... and the inclusive one run as a streaming trigger on the replayed test events: the same events
    # selected again from their raw chunks, the same decisions as its menu's.
    stream = json.loads((workdir / "results/trigger/inclusive/stream.json").read_text())
    assert stream["events_read"] == stream["selected"] == tested and stream["corrupt_chunks"] == 0 and stream["batches"] >= 2
    assert stream["efficiency"] == pytest.approx(menus["inclusive"]["efficiency"]) and stream["rate_hz"] == pytest.approx(
        menus["inclusive"]["rate_hz"]
    )
    stream_metrics = pd.read_csv(workdir / "results/trigger/inclusive/stream_metrics.tsv", sep="\t")
    assert stream_metrics.events_read.sum() == tested and len(stream_metrics) == stream["batches"]
    # Every chunk's latency lies within the stream's run; the summary's steady state leaves the start-up
    # batch out (its latency reported apart): the later chunks' percentiles, the later batches' events per
    # second between the first and the last commit on the job's 2 cores, their executors' CPU per event.
    latency = pd.read_csv(workdir / "results/trigger/inclusive/latency.tsv", sep="\t")
    replayed = pd.read_parquet(workdir / "results/trigger/replay/provenance.parquet").chunk.nunique()
    assert len(latency) == replayed and 0 < latency.latency_s.min() and latency.latency_s.max() < stream["wall_seconds"]
    startup, later = latency.batch == stream_metrics.batch.iloc[0], stream_metrics.iloc[1:]
    assert stream["latency_p99_s"] == pytest.approx(np.percentile(latency.latency_s[~startup], 99), rel=1e-5)
    assert stream["first_batch_latency_s"] == pytest.approx(latency.latency_s[startup].max(), rel=1e-5)
    span = stream_metrics.elapsed_s.iloc[-1] - stream_metrics.elapsed_s.iloc[0]
    assert stream["events_per_second_per_core"] == pytest.approx(later.events_read.sum() / span / 2, rel=1e-3)
    assert stream["executor_ms_per_event"] == pytest.approx(later.executor_s.sum() / later.events_read.sum() * 1e3, rel=1e-3)
    assert (stream_metrics.executor_s > 0).all() and stream["offered_events_per_second"] == TINY["trigger"]["events_per_second"]

    # ... and evaluated: every figure (PNG and PDF) and table of the default target, and the report.
    figures = [f"roc_{selector}{axis}" for selector in ("qcd", "ttbar", "wjets") for axis in ("", "_logfpr")]
    xgboost = workdir / "results/train/torch/xgboost"
    assert (xgboost / "model.spark").is_dir() and pq.read_table(xgboost / "predictions.parquet").num_rows == sum(counts["test"].values())
    figures += [
        "trigger_efficiency_vs_rate",
        *(f"{figure}_{model}" for figure in ("training", "confusion") for model in ("hlf", "inclusive", "xgboost")),
    ]
    products = [f"results/plots/torch/{name}.{kind}" for name in figures for kind in ("png", "pdf")]
    products += [f"results/plots/trigger_stream_inclusive.{kind}" for kind in ("png", "pdf")]
    products += [f"results/plots/{name}.{kind}" for name in ("cutflow", "features") for kind in ("png", "pdf")]
    products += [f"results/evaluate/torch/{name}" for name in ("auc.tsv", "auc.md", "trigger.tsv", "trigger.md", "ordering.tsv", "ordering.md")]
    products += ["results/evaluate/rates.json", "results/evaluate/torch/uncertainties.json", "results/summary.md"]
    assert [path for path in products if not (workdir / path).is_file() or (workdir / path).stat().st_size == 0] == []
    summary = (workdir / "results/summary.md").read_text()
    assert "| inclusive | ttbar |" in summary and "| train | 3 |" in summary and "pyspark 4.3.0" in summary
    assert re.search(r"ttbar selector, inclusive > hlf in the paper: here inclusive − hlf = -?\d\.\d+ ± \d\.\d+ \([+-]\d+\.\d σ\)", summary)
    assert re.search(r"\| inclusive - hlf \| ttbar \| auc \| -?\d\.\d+ ± \d\.\d+ \|", summary)
    rates = json.loads((workdir / "results/evaluate/rates.json").read_text())
    assert all(rate > 0 for rate in rates["rate_hz"].values())
    snakemake(workdir, "--cores", "1", "--configfile", "tiny.yaml", "--report", "report.html")
    report = (workdir / "report.html").read_text()
    assert all(f"{name}.png" in report for name in [*figures, "cutflow", "features", "trigger_stream_inclusive"])
    assert "trigger.tsv" in report
    assert "ordering.tsv" in report and "engine_comparison.png" not in report  # a side study not built: not in the report

    again = snakemake(workdir, "-n", "--cores", "2", "--configfile", "tiny.yaml")
    assert "Nothing to be done" in again.stdout + again.stderr

    # No log, output or Snakemake record repeats a credential from the environment.
    for secret in CREDENTIALS.values():
        found = subprocess.run(["grep", "-r", "-l", "-a", secret.split(":")[-1], str(workdir)], capture_output=True, text=True)
        assert found.stdout == "", found.stdout

    # A plot setting changed: only the plotting rules rerun.
    (workdir / "restyled.yaml").write_text(yaml.safe_dump({**TINY, "plots": {"dpi": 100, "label": "My study"}}))
    restyled = snakemake(workdir, "-n", "--cores", "2", "--configfile", "restyled.yaml", "--quiet", "rules")
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", restyled.stdout, flags=re.M))
    assert counts == {
        "plot_roc": "1",
        "plot_trigger": "1",
        "plot_model": "1",
        "plot_cutflow": "1",
        "plot_features": "1",
        "plot_stream": "1",
        "all": "1",
        "total": "7",
    }

    # Only the chunks of the process whose settings changed are regenerated.
    TINY_CHANGED = yaml.safe_load(yaml.safe_dump(TINY))
    TINY_CHANGED["generate"]["processes"]["wjets"]["pythia"] = ["PhaseSpace:pTHatMin = 25."]
    (workdir / "changed.yaml").write_text(yaml.safe_dump(TINY_CHANGED))
    changed = snakemake(workdir, "-n", "--cores", "2", "--configfile", "changed.yaml", "--quiet", "rules")
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", changed.stdout, flags=re.M))
    assert counts["generate_chunk"] == "1" and counts["sample_manifest"] == "1"


# Slow (~30 s), to keep make test under 25 min: the SLURM-profile run retrains every network of the tiny
# config and compares its weights and metrics with the local run's.
@pytest.mark.slow
def test_a_network_trained_again_from_scratch_gives_the_same_weights_and_metrics(tiny_run, tmp_path):
    """The tiny run's HLF network trained a second time in a copy of the run (its training and evaluation gone):
    the same weights, and a byte-identical metrics.json."""
    workdir = tmp_path / "again"
    shutil.copytree(tiny_run, workdir, symlinks=True, ignore=shutil.ignore_patterns(".snakemake"))
    for folder in ("results/train/torch/hlf", "results/evaluate/torch/hlf"):
        shutil.rmtree(workdir / folder)
    snakemake(workdir, "results/evaluate/torch/hlf/metrics.json", "--cores", "2", "--configfile", "tiny.yaml")
    for name in ("results/evaluate/torch/hlf/metrics.json", "results/evaluate/torch/hlf/roc.tsv"):
        assert (workdir / name).read_bytes() == (tiny_run / name).read_bytes(), name
    first, second = (json.loads((run / "results/train/torch/hlf/training_config.json").read_text()) for run in (tiny_run, workdir))
    assert second["final_weights_sha256"] == first["final_weights_sha256"]


def start_stream(run: Path, output: Path, events_per_second: float, env=None) -> subprocess.Popen:
    """The tiny run's streaming trigger (inclusive model, its replay) in a process of its own, writing to
    ``output``; its log in ``output``/stream.log."""
    output.mkdir(exist_ok=True)
    arguments = {
        "menu_path": str(run / "results/export/inclusive/menu.json"),
        "replay_dir": str(run / "results/trigger/replay"),
        "output_dir": str(output),
        "spark_config": {**SPARK, "master": "local[2]"},
        "threads": 2,
        "events_per_second": events_per_second,
        "chunks_per_batch": 1,
        "timeout_seconds": 300,
        "log_dir": str(output / "spark-logs"),
    }
    code = (
        "import json, logging, sys; logging.basicConfig(level=logging.INFO)\n"
        "from dltrigger.trigger.stream import run_stream\n"
        f"run_stream(**json.loads({json.dumps(json.dumps(arguments))}))"
    )
    with open(output / "stream.log", "a") as log:
        return subprocess.Popen([sys.executable, "-c", code], stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env)


def assert_accepts_as_the_batch_evaluation(run: Path, output: Path) -> None:
    """The stream's accepted events are, event for event and once each, those the batch evaluation (the
    training's predictions at the menu's thresholds) accepts; its working state is gone."""
    provenance = pd.read_parquet(run / "results/trigger/replay/provenance.parquet")
    accepted = pq.read_table(output / "accepted.parquet").to_pandas()
    assert not accepted.duplicated(["chunk", "entry"]).any()
    streamed = accepted.merge(provenance, left_on=["chunk", "entry"], right_on=["chunk", "chunk_entry"], validate="one_to_one")
    menu = json.loads((run / "results/export/inclusive/menu.json").read_text())
    predictions = pq.read_table(run / "results/train/torch/inclusive/predictions.parquet").to_pandas()
    passed = np.any([predictions[f"prob_{path}"] >= cut["threshold"] for path, cut in menu["paths"].items()], axis=0)
    assert sorted(zip(streamed.source_file, streamed.source_entry)) == sorted(zip(predictions.source_file[passed], predictions.entry[passed]))
    expected = predictions.set_index(["source_file", "entry"]).loc[list(zip(streamed.source_file, streamed.source_entry))]
    np.testing.assert_allclose(streamed.prob_ttbar, expected.prob_ttbar, atol=1e-5)
    assert not list(output.glob("work-*"))  # the working state goes once the stream is complete


# The third micro-batch ends the stream at a fault point: before its sink write, or after it and before
# Spark commits the batch (which Spark then runs again on restart).
KILLED_BATCH = 2


@pytest.mark.reliability("kill point")
# Before the sink write in make test-all only (~30 s, to keep make test under 25 min): after it, Spark
# runs the written batch again, which checks the no-loss case's restart as well as the replacement.
@pytest.mark.parametrize("point", [pytest.param("before-write", marks=pytest.mark.slow), "after-write"])
@pytest.mark.timeout(600)
def test_the_streaming_trigger_ended_at_a_fault_point_restarts_exactly_once(tiny_run, tmp_path, point):
    output, markers = tmp_path / "stream", tmp_path / "markers"
    markers.mkdir()
    env = {**os.environ, "DLTRIGGER_KILL_ONCE": f"stream-{point}-{KILLED_BATCH}:{markers}"}
    first = start_stream(tiny_run, output, events_per_second=1000, env=env)
    assert first.wait(timeout=300) == -signal.SIGKILL, (output / "stream.log").read_text()[-2000:]
    with contextlib.suppress(ProcessLookupError):  # its JVM, were it still there
        os.killpg(first.pid, signal.SIGKILL)
    work = next(output.glob("work-*"))
    sink = sorted(path.name for path in (work / "batches").glob("batch-*.json"))
    written = [f"batch-{batch:06d}.json" for batch in range(KILLED_BATCH + (point == "after-write"))]
    assert sink == written
    assert sorted(int(path.name) for path in (work / "checkpoint/commits").iterdir() if path.name.isdigit()) == list(range(KILLED_BATCH))

    second = start_stream(tiny_run, output, events_per_second=1000)
    assert second.wait(timeout=300) == 0, (output / "stream.log").read_text()[-2000:]
    summary = json.loads((output / "stream.json").read_text())
    provenance = pd.read_parquet(tiny_run / "results/trigger/replay/provenance.parquet")
    assert summary["events_read"] == len(provenance) and summary["chunks"] == provenance.chunk.nunique()
    assert_accepts_as_the_batch_evaluation(tiny_run, output)


@pytest.mark.reliability("kill point")
# Slow: the kill lands wherever the stream is (its timing depends on the machine's load); the fault
# points above make the two cases that matter deterministic.
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_streaming_trigger_killed_mid_stream_loses_and_duplicates_nothing(tiny_run, tmp_path):
    """The trigger is SIGKILLed after its first committed micro-batch, while the replay is still landing
    chunks; a corrupt chunk lands while it is down. Started again on its checkpoint, it skips the corrupt
    chunk with one line (counted, never scored) and ends with every replayed event read once: its
    accepted events are, event for event, those the batch evaluation (the training's predictions at the
    menu's thresholds) accepts."""
    output = tmp_path / "stream"
    first = start_stream(tiny_run, output, events_per_second=1)  # a chunk every 2 s
    deadline = time.monotonic() + 180
    while not list(output.glob("work-*/batches/batch-*.json")):
        assert first.poll() is None and time.monotonic() < deadline, (output / "stream.log").read_text()[-2000:]
        time.sleep(0.1)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    provenance = pd.read_parquet(tiny_run / "results/trigger/replay/provenance.parquet")
    landing = next(output.glob("work-*/landing"))
    assert 0 < len(list(landing.glob("*.root"))) < provenance.chunk.nunique()  # killed mid-stream
    truncated = (tiny_run / "results/trigger/replay" / provenance.chunk.iloc[0]).read_bytes()[:3000]
    (landing / ".corrupt.root.landing").write_bytes(truncated)
    os.replace(landing / ".corrupt.root.landing", landing / "chunk-corrupt.root")

    second = start_stream(tiny_run, output, events_per_second=100)
    assert second.wait(timeout=300) == 0, (output / "stream.log").read_text()[-2000:]
    log = (output / "stream.log").read_text()
    assert len(re.findall(r"chunk-corrupt\.root: unreadable on arrival \(.+\); skipped", log)) == 1
    summary = json.loads((output / "stream.json").read_text())
    assert summary["corrupt_chunks"] == 1 and summary["events_read"] == len(provenance)
    assert summary["chunks"] == provenance.chunk.nunique() + 1
    assert_accepts_as_the_batch_evaluation(tiny_run, output)


@pytest.mark.reliability("bad input")
def test_an_onnx_file_that_does_not_match_its_menu_stops_the_trigger_at_start(tiny_run, tmp_path):
    from dltrigger.core.errors import InputError
    from dltrigger.trigger.stream import run_stream

    export = tmp_path / "export"
    shutil.copytree(tiny_run / "results/export/inclusive", export)
    menu = json.loads((export / "menu.json").read_text())
    menu["inputs"]["HLF_input"] = 13
    (export / "menu.json").write_text(json.dumps(menu))
    with pytest.raises(InputError, match=r"model\.onnx: input HLF_input has 14 values per row; its menu .*menu\.json says 13$"):
        run_stream(str(export / "menu.json"), str(tiny_run / "results/trigger/replay"), str(tmp_path / "out"), SPARK, 2, 100, 1, 60)
    assert not (tmp_path / "out").exists()


# Slow (~50 s on 2 cores), to keep make test under 25 min; every engine's training has its fast test in
# test_train.py, and the side study's jobs their dry run above.
@pytest.mark.slow
def test_the_engine_comparison_trains_the_hlf_classifier_with_each_engine(tiny_run):
    """The engine comparison side study on the tiny run's training set: the HLF classifier, 2 epochs, by
    each engine; its table of AUCs, its figure and its place in the report."""
    workdir = tiny_run
    snakemake(workdir, "plot_engine_comparison", "--cores", "2", "--configfile", "tiny.yaml")
    counts = json.loads((workdir / "results/features/counts.json").read_text())
    compared = pd.read_csv(workdir / "results/compare/engines.tsv", sep="\t")
    assert compared[["engine", "model", "epochs"]].values.tolist() == [[engine, "hlf", 2] for engine in COMPARED_ENGINES]
    for engine, auc_mean in zip(COMPARED_ENGINES, compared.auc_mean):
        used = json.loads((workdir / f"results/compare/{engine}/hlf/training_config.json").read_text())
        assert used["engine"] == engine and used["train_events"] == sum(counts["train"].values())
        scored = pq.read_table(workdir / f"results/compare/{engine}/hlf/predictions.parquet").to_pandas()
        one_vs_rest = [roc_auc_score(scored.label == code, scored[f"prob_{name}"]) for code, name in enumerate(("qcd", "ttbar", "wjets"))]
        assert auc_mean == pytest.approx(np.mean(one_vs_rest), rel=1e-5)
    assert all((workdir / f"results/plots/engine_comparison.{kind}").stat().st_size > 0 for kind in ("png", "pdf"))
    snakemake(workdir, "--cores", "1", "--configfile", "tiny.yaml", "--report", "engines-report.html")
    assert "engine_comparison.png" in (workdir / "engines-report.html").read_text()


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_the_scalability_figure_measures_one_and_two_workers(tiny_run):
    """The scalability measurement on the tiny run's samples: 1 and 2 workers, each on its own standalone cluster,
    ingestion and training, its table, figure and place in the report."""
    workdir = tiny_run
    snakemake(workdir, "plot_scalability", "--cores", "2", "--configfile", "tiny.yaml")
    snakemake(workdir, "--cores", "2", "--configfile", "tiny.yaml", "--report", "scalability-report.html")  # built: in the default report
    scalability = pd.read_csv(workdir / "results/scalability/scalability.tsv", sep="\t")
    assert scalability[["step", "workers"]].values.tolist() == [["ingestion", 1], ["training", 1], ["ingestion", 2], ["training", 2]]
    assert (scalability.events_per_second > 0).all() and (scalability[scalability.workers == 1].speedup == 1).all()
    assert (scalability.repeats == 3).all() and (scalability.events_per_second_std > 0).all()  # 3 ingestion pairs, 3 timed epochs
    assert (scalability.above_ideal == (scalability.efficiency > 1)).all()
    read_row = (workdir / "results/ingest/cutflow.tsv").read_text().splitlines()[1].split("\t")
    ingested = sum(int(n) for n in read_row[1:])
    # One pass (repeats 2 - 1) per pair, or both when the tiny runs are too short to difference.
    assert scalability[scalability.step == "ingestion"].events.between(3 * ingested, 6 * ingested).all()
    assert "2 worker(s): spark://127.0.0.1:" in (workdir / "logs/scalability/scalability.log").read_text()
    assert all((workdir / f"results/plots/scalability.{kind}").stat().st_size > 0 for kind in ("png", "pdf"))
    assert "scalability.png" in (workdir / "scalability-report.html").read_text()


@pytest.mark.reliability("bad input")
def test_bad_config_stops_before_any_job_with_one_line(tmp_path):
    workdir = copy_workflow(tmp_path)
    result = snakemake(workdir, "--cores", "1", "--config", "seed=-1", check=False)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == ("dltrigger: invalid configuration: config: key 'seed': -1 is less than the minimum of 0")
    assert not (workdir / "results").exists()

    (workdir / "config" / "samples.tsv").write_text("sample\tlabel\tsource\tprocess\nold\tqcd\tdata/old_*.root\t\n")
    result = snakemake(workdir, "--cores", "1", check=False)
    assert result.returncode == 1
    assert "config/samples.tsv, line 2 (sample 'old'): source 'data/old_*.root' matches no existing file" in result.stderr


@pytest.mark.reliability("rejected combination")
@pytest.mark.parametrize(
    ("train", "features", "message"),
    [
        (
            {"models": ["hlf", "inclusive_part"]},
            {"particle_scaling": "per_event"},
            "keys 'train.models' and 'features.particle_scaling': inclusive_part computes its pair features",
        ),
        ({"engine": "keras", "models": ["inclusive_pcloud"]}, {}, "keys 'train.models' and 'train.engine': inclusive_pcloud has no keras version"),
    ],
)
def test_a_combination_the_training_rejects_stops_before_any_job_with_one_line(tmp_path, train, features, message):
    workdir = copy_workflow(tmp_path)
    (workdir / "bad.yaml").write_text(yaml.safe_dump({"train": train, "features": features}))
    for dry in (("-n",), ()):
        result = snakemake(workdir, *dry, "--cores", "1", "--configfile", "bad.yaml", check=False)
        assert result.returncode == 1
        assert message in result.stderr.strip().splitlines()[-1]
        assert not (workdir / "results").exists()


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("scaling", ["global", "per_event"])
def test_every_accepted_engine_model_and_scaling_dry_runs(tmp_path, engine, scaling):
    """The other half of test_config.py's walk: every model an engine has, at each particle scaling
    (the particle transformer only at global scaling), plans its jobs."""
    workdir = copy_workflow(tmp_path)
    models = [name for name, model in REGISTRY.items() if engine in model.engines and not (scaling == "per_event" and model.undoes_particle_scaling)]
    overlay = {
        "train": {"engine": engine, "models": models, "ensemble": 1},
        "features": {"particle_scaling": scaling},
        "compare_engines": {"engines": [engine]},
    }
    (workdir / "case.yaml").write_text(yaml.safe_dump(overlay))
    planned = job_counts(snakemake(workdir, "-n", "--cores", "1", "--quiet", "rules", "--configfile", "case.yaml"))
    networks = [model for model in models if model in MODELS]
    assert planned["train"] == str(len(networks))
    assert planned["train_trees"] == str(len(TREE_MODELS)) and planned["evaluate"] == str(len(models))


def test_a_script_runs_by_hand_like_its_rule(tmp_path):
    workdir = copy_workflow(tmp_path)
    (workdir / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    command = [sys.executable, "scripts/generate_chunk.py", "results/raw/wjets/chunk_000.root", "--configfile", "tiny.yaml"]
    result = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=600)
    assert result.returncode == 1  # with pileup on, the job needs the min-bias pool first
    assert result.stderr.strip().splitlines()[-1] == (
        "inputs of 'results/raw/wjets/chunk_000.root' are missing; build them first: snakemake results/pileup/minbias_pool.parquet"
    )

    (workdir / "tiny.yaml").write_text(yaml.safe_dump({**TINY, "pileup": {"mu": 0}}))
    result = subprocess.run(
        [sys.executable, "scripts/generate_chunk.py", "results/raw/wjets/chunk_000.root", "--configfile", "tiny.yaml"],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    metadata = json.loads((workdir / "results/raw/wjets/chunk_000.json").read_text())
    assert metadata["events_generated"] == 80 and metadata["sample"] == "wjets"
    assert "80/80 events generated" in (workdir / "logs/generate_chunk/wjets/chunk_000.log").read_text()


def sorted_rows(directory: Path):
    """The rows in (file, entry) order, each file named by its folder and name: a storage copy of the same
    file has a longer path."""
    import pyarrow.compute as pc

    table = pq.read_table(directory)
    short = pc.replace_substring_regex(table["source_file"], pattern=r"^.*/([^/]+/[^/]+)$", replacement=r"\1")
    table = table.set_column(table.schema.get_field_index("source_file"), "source_file", short)
    return table.sort_by([("source_file", "ascending"), ("entry", "ascending")])


@pytest.mark.reliability("kill point")
# Slow (~4.5 min on 2 cores): the fast suite keeps a standalone cluster in the ingestion's worker-kill test.
@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_the_workflow_on_a_standalone_cluster_killed_and_recovered_matches_local_mode(tiny_run, tmp_path):
    """A second clean run of the tiny config, in another directory, with its Spark stages (ingestion,
    feature preparation, training) on a real 1-master/2-worker standalone cluster on 127.0.0.1, selected
    only by config. Snakemake and every job it runs are SIGKILLed while the first training runs; the next
    run refuses the locked directory, then `snakemake --unlock` and the same command again (with the
    default profile's rerun-incomplete) complete it. Same raw events, cutflow, feature tables, trained
    weights and metrics as the local-mode run."""
    from dltrigger.tools.cluster import standalone_cluster

    (tmp_path / "cluster").mkdir()
    workdir = copy_workflow(tmp_path / "cluster")  # in another directory: no path may be relative to the run's
    run = ("--cores", "2", "--configfile", "cluster.yaml")
    with standalone_cluster(workers=2, cores=1, memory="2g", log_dir=tmp_path / "cluster-logs") as cluster:
        settings = {**TINY_NETWORKS, "spark": {"master": cluster["master"], "executor_memory": "1g"}}
        (workdir / "cluster.yaml").write_text(yaml.safe_dump(settings))
        process = subprocess.Popen([SNAKEMAKE, *run], cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        logs, deadline = workdir / "logs/train/torch", time.monotonic() + 900
        while not any("training " in log.read_text() for log in logs.glob("*.log")):  # a training has started
            assert process.poll() is None and time.monotonic() < deadline, "the run ended before any training started"
            time.sleep(0.5)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        assert not (workdir / "results/summary.md").exists()
        locked = snakemake(workdir, *run, check=False)
        assert locked.returncode != 0 and "Directory cannot be locked" in locked.stdout + locked.stderr
        snakemake(workdir, "--unlock", *run)
        snakemake(workdir, *run)
    for log in ("ingest/ingest.log", "features/features.log", "train/torch/hlf.log"):
        assert f"on {cluster['master']}" in (workdir / "logs" / log).read_text()
    assert_same_results(workdir, tiny_run)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("rsync") is None, reason="snakemake-storage-plugin-fs copies with rsync")
def test_the_workflow_without_a_shared_filesystem_matches_local_mode(tiny_run, tmp_path):
    """What profiles/kubernetes does to every job, on this machine: no shared filesystem, each job
    receives only its declared inputs, copied from the default storage (snakemake-storage-plugin-fs), and
    its outputs are copied back. Same cutflow, feature tables, weights and AUCs as the plain run."""
    (tmp_path / "workflow").mkdir()
    workdir = copy_workflow(tmp_path / "workflow")
    store = tmp_path / "store"
    (workdir / "nofs.yaml").write_text(yaml.safe_dump(TINY_NETWORKS))
    storage = ("--default-storage-provider", "fs", "--default-storage-prefix", str(store), "--shared-fs-usage", "none")
    snakemake(workdir, "--cores", "2", *storage, "--configfile", "nofs.yaml")
    assert not (workdir / "results").exists()  # every output went to the storage
    assert_same_results(store, tiny_run)


def assert_same_results(run: Path, reference: Path):
    """Same raw events, cutflow, feature tables, trained weights and metrics as the reference run of the
    tiny config: two clean runs agree exactly (torch reseeds everything from the config's seed)."""
    raw = sorted(path.relative_to(reference) for path in (reference / "results/raw").glob("*/chunk_*.root"))
    assert raw == sorted(path.relative_to(run) for path in (run / "results/raw").glob("*/chunk_*.root")) and raw
    for path in raw:  # ROOT files carry a UUID and times: compare their content
        with uproot.open(run / path) as mine, uproot.open(reference / path) as theirs:
            assert mine["Delphes"].keys() == theirs["Delphes"].keys()
            for branch in mine["Delphes"].keys():
                assert mine["Delphes"][branch].array(library="ak").to_list() == theirs["Delphes"][branch].array(library="ak").to_list(), (
                    path,
                    branch,
                )
    assert (run / "results/ingest/cutflow.tsv").read_text() == (reference / "results/ingest/cutflow.tsv").read_text()
    reference_counts, counts = (json.loads((d / "results/features/counts.json").read_text()) for d in (reference, run))
    assert {k: v for k, v in counts.items() if k != "job_seconds"} == {k: v for k, v in reference_counts.items() if k != "job_seconds"}
    for split in ("train", "validation", "test"):
        assert sorted_rows(run / f"results/features/{split}.parquet").equals(sorted_rows(reference / f"results/features/{split}.parquet"))
    for model in ("hlf", "inclusive"):
        expected, trained = (json.loads((d / f"results/train/torch/{model}/training_config.json").read_text()) for d in (reference, run))
        assert trained["final_weights_sha256"] == expected["final_weights_sha256"]
        assert (run / f"results/evaluate/torch/{model}/metrics.json").read_text() == (
            reference / f"results/evaluate/torch/{model}/metrics.json"
        ).read_text()
    reference_auc, auc = (pd.read_csv(d / "results/evaluate/torch/auc.tsv", sep="\t") for d in (reference, run))
    # The reference (the tiny run) also trained the XGBoost baseline: the networks' rows must be the same.
    assert auc.equals(reference_auc[reference_auc.model.isin(auc.model)].reset_index(drop=True))


# The SLURM profile on a real single-node SLURM cluster on 127.0.0.1 (tests/slurm_cluster.py).
SLURM_MISSING = slurm_cluster.missing()


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    """The environment (SLURM_CONF) of a running single-node SLURM cluster."""
    if SLURM_MISSING:
        pytest.skip(f"no SLURM test cluster: {SLURM_MISSING}")
    with slurm_cluster.single_node_slurm(tmp_path_factory.mktemp("slurm")) as env:
        yield env


def site_profile(directory: Path, threads: int) -> Path:
    """A site's own profile, given after profiles/slurm: the test cluster's partition, no account (the
    cluster keeps no accounting database), job status from squeue, and the node's cores for the
    multi-core rules."""
    profile = directory / "test-site"
    profile.mkdir()
    rules = yaml.safe_load((REPO / "profiles/slurm/config.yaml").read_text())["set-threads"]
    settings = {
        "default-resources": {"slurm_partition": slurm_cluster.PARTITION},
        "slurm-no-account": True,
        "slurm-status-command": "squeue",
        # The first status query a second after a submission, not 40 (the jobs here last seconds).
        "slurm-init-seconds-before-status-checks": 1,
        "set-threads": dict.fromkeys(rules, threads),
    }
    (profile / "config.yaml").write_text(yaml.safe_dump(settings))
    return profile


def slurm_jobs_of(env: dict) -> list[dict]:
    """The cluster's jobs with the rule each ran (the executor's comment: rule_<name>[_wildcards_<values>])."""
    listed = subprocess.run(
        ["squeue", "--noheader", "--states=all", "--format=%i|%k|%T"], env=env, capture_output=True, text=True, timeout=30, check=True
    )
    jobs = []
    for line in listed.stdout.splitlines():
        job_id, comment, state = line.split("|")
        rule, _, wildcards = comment.removeprefix("rule_").partition("_wildcards_")
        jobs.append({"id": job_id, "rule": rule, "wildcards": wildcards, "state": state})
    return jobs


@pytest.mark.reliability("kill point")
@pytest.mark.timeout(1500)
def test_the_tiny_workflow_through_the_slurm_profile_matches_local_mode(tiny_run, slurm, tmp_path):
    """The tiny config through `--profile profiles/slurm` and a site profile, from the tiny run's feature
    tables: every job a SLURM job with the CPUs, memory and time limit its rule declares (training: Spark
    on the job's cores); the inclusive network's training job cancelled by the scheduler (scancel) after
    its first epoch, resubmitted by the profile's retries and resumed from that epoch's checkpoint; the
    same weights and metrics as the local run. (The Spark stages inside a SLURM allocation: the slow test
    below.)"""
    (tmp_path / "run").mkdir()
    workdir = copy_workflow(tmp_path / "run")
    (workdir / "slurm.yaml").write_text(yaml.safe_dump(TINY_NETWORKS))
    # Each job in a chain adds the executor's poll intervals (10 s more per status check until some job
    # ends): the run starts from the tiny run's events and features, as they were.
    for made in ("results/raw", "results/pileup", "results/ingest", "results/features"):
        shutil.copytree(tiny_run / made, workdir / made)
    # Up to the AUC table: the weights and metrics that the local run is compared on.
    target = "results/evaluate/torch/auc.tsv"
    profiles = ("--profile", "profiles/slurm", "--profile", str(site_profile(tmp_path, 2)))
    command = [SNAKEMAKE, target, *profiles, "--configfile", "slurm.yaml"]
    planned = job_counts(snakemake(workdir, target, "-n", "--cores", "2", "--configfile", "slurm.yaml", "--quiet", "rules"))
    declared = declared_resources(snakemake(workdir, *command[1:], "-n", env=slurm).stdout)
    markers = tmp_path / "markers"
    markers.mkdir()
    env = {**slurm, "DLTRIGGER_PAUSE_ONCE": f"train-rank0-epoch2:{markers}"}
    started = time.monotonic()
    with open(tmp_path / "snakemake.log", "w") as log:
        process = subprocess.Popen(command, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            # The inclusive network's training waits at its second epoch, its first one checkpointed.
            deadline = time.monotonic() + 1200
            while not (markers / "train-rank0-epoch2-paused").exists():
                assert process.poll() is None and time.monotonic() < deadline, (tmp_path / "snakemake.log").read_text()[-3000:]
                time.sleep(0.5)
            running = [job for job in slurm_jobs_of(slurm) if job["rule"] == "train" and job["state"] == "RUNNING"]
            assert [job["wildcards"] for job in running] == ["inclusive"]
            subprocess.run(["scancel", running[0]["id"]], env=slurm, check=True, timeout=30)
            assert process.wait(timeout=1200) == 0, (tmp_path / "snakemake.log").read_text()[-3000:]
        finally:
            if process.poll() is None:
                process.kill()
    wall = time.monotonic() - started
    jobs = slurm_jobs_of(slurm)
    completed = Counter(job["rule"] for job in jobs if job["state"] == "COMPLETED")
    assert completed == {rule: int(n) for rule, n in planned.items() if rule not in ("total", "all")}, (completed, planned)
    assert [(job["rule"], job["wildcards"]) for job in jobs if job["state"] != "COMPLETED"] == [("train", "inclusive")]
    assert "resuming after epoch 1" in (workdir / "logs/train/torch/inclusive.log").read_text()
    # A job of each kind got the CPUs, memory and time limit its rule declares (threads: the site profile's).
    for rule in ("evaluate", "train"):
        threads, memory_mb, runtime = declared[rule]
        job = next(job for job in jobs if job["rule"] == rule and job["state"] == "COMPLETED")
        details = slurm_cluster.job_details(job["id"], slurm)
        allocated = (int(details["NumCPUs"]), details["MinMemoryNode"], details["TimeLimit"], details["Partition"])
        assert allocated == (threads, f"{memory_mb}M", f"{runtime // 60:02d}:{runtime % 60:02d}:00", slurm_cluster.PARTITION), rule
    print(f"the tiny config through SLURM: {wall:.0f} s wall, {len(jobs)} jobs")
    assert_same_results(workdir, tiny_run)

    # train.device: cuda asks SLURM for a GPU per training process; this cluster has none, so sbatch
    # refuses the job, and the executor's report shows the call.
    (workdir / "cuda.yaml").write_text(yaml.safe_dump({**TINY_NETWORKS, "train": {**TINY_NETWORKS["train"], "device": "cuda"}}))
    target = "results/train/torch/hlf/history.json"
    on_gpus = snakemake(workdir, target, *profiles, "--configfile", "cuda.yaml", "-n", env=slurm).stdout
    train_job = on_gpus[on_gpus.index("\nrule train:") :].split("\n\n")[0]
    assert "gpu=2" in train_job
    refused = snakemake(workdir, target, *profiles, "--retries", "0", "--configfile", "cuda.yaml", env=slurm, check=False)
    assert refused.returncode != 0
    assert re.search(
        r"SLURM sbatch failed.*\n\s+sbatch call:\n\s+sbatch .*--comment '?rule_train_wildcards_hlf'?.* --gpus=2\b", refused.stdout + refused.stderr
    )


def declared_resources(dry_run: str) -> dict:
    """Per rule, the (threads, mem_mb, runtime) of its first job in a dry run's job listing."""
    declared = {}
    for block in dry_run.split("\nrule ")[1:]:
        rule = block.split(":", 1)[0]
        threads = re.search(r"^\s+threads: (\d+)$", block, flags=re.M)
        resources = dict(re.findall(r"\b(mem_mb|runtime)=(\d+)\b", block))
        if resources:  # (not the target rules)
            declared.setdefault(rule, (int(threads.group(1)) if threads else 1, int(resources["mem_mb"]), int(resources["runtime"])))
    return declared


# Slow (~75 s on 2 cores), to keep make test under 25 min beside the SLURM run above.
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_spark_stages_run_on_a_standalone_cluster_inside_one_slurm_allocation(tiny_run, slurm, tmp_path):
    """profiles/slurm/spark-in-allocation.sbatch: one allocation starts a Spark master and a worker per
    core, and the workflow's Spark stages (here ingestion and feature preparation of the tiny run's raw
    events) run as applications on that master with executors on those workers; the cluster is gone
    when the job ends. The same feature tables as the local run."""
    (tmp_path / "run").mkdir()
    workdir = copy_workflow(tmp_path / "run")
    (workdir / ".venv").symlink_to(REPO / ".venv")
    (workdir / "slurm.yaml").write_text(yaml.safe_dump(TINY_NETWORKS))
    for generated in ("results/raw", "results/pileup"):  # the generated events, as they were
        shutil.copytree(tiny_run / generated, workdir / generated)
    script = "profiles/slurm/spark-in-allocation.sbatch"
    submitted = subprocess.run(
        [
            "sbatch",
            "--parsable",
            "--wait",
            "--cpus-per-task=2",
            "--mem=8000",
            "--time=15",
            script,
            "results/features/counts.json",
            "--configfile",
            "slurm.yaml",
        ],
        cwd=workdir,
        env=slurm,
        capture_output=True,
        text=True,
        timeout=840,
    )
    job_id = submitted.stdout.strip().split(";")[0]
    output = (workdir / f"slurm-{job_id}.out").read_text()
    assert submitted.returncode == 0, output[-3000:]
    master = re.search(r"spark-in-allocation: job \d+, master (spark://127\.0\.0\.1:\d+), 2 workers", output).group(1)
    for stage in ("ingest/ingest.log", "features/features.log"):
        assert f"on {master}" in (workdir / "logs" / stage).read_text()
    spark_logs = workdir / f"logs/slurm/spark-{job_id}"
    registered = (spark_logs / "master.log").read_text()
    for application in ("dltrigger-ingest", "dltrigger-features"):
        assert f"Registering app {application}" in registered
    launched = "".join((spark_logs / f"worker-{index}.log").read_text() for index in range(2))
    assert launched.count("Asked to launch executor") >= 2 and not (spark_logs / "state.json").exists()
    counts, reference = (json.loads((run / "results/features/counts.json").read_text()) for run in (workdir, tiny_run))
    assert {**counts, "job_seconds": None} == {**reference, "job_seconds": None}
    for split in ("train", "validation", "test"):
        assert sorted_rows(workdir / f"results/features/{split}.parquet").equals(sorted_rows(tiny_run / f"results/features/{split}.parquet"))
