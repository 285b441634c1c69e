"""``results/summary.md``: this run against the paper, the AUC, ordering and trigger tables with what
produced them (config hash, package versions, engine, workers) and how long each step took."""

from __future__ import annotations

import platform
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from ..core.files import atomic_path, read_json
from ..core.schema import CLASSES
from .tables import PAPER_TEST_EVENTS, markdown_table, with_error

PACKAGES = (
    "snakemake",
    "pyspark",
    "uproot",
    "awkward",
    "numpy",
    "pyarrow",
    "pythia8mc",
    "fastjet",
    "torch",
    "tensorflow-cpu",
    "tf-keras",
    "matplotlib",
    "mplhep",
)


def package_versions() -> dict:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def stage_timings(benchmarks: dict) -> pd.DataFrame:
    """Jobs, summed wall and CPU time, and the largest peak memory per step (``benchmarks``: step -> the
    benchmark tables of its jobs, Snakemake's format)."""
    rows = []
    for rule, paths in benchmarks.items():
        for path in paths:
            frame = pd.read_csv(path, sep="\t")
            rows.append({"rule": rule, "wall_s": frame["s"].iloc[0], "cpu_s": frame["cpu_time"].iloc[0], "max_rss_mb": frame["max_rss"].iloc[0]})
    table = pd.DataFrame(rows, columns=["rule", "wall_s", "cpu_s", "max_rss_mb"])
    grouped = table.groupby("rule", sort=False).agg(
        jobs=("rule", "size"), wall_s=("wall_s", "sum"), cpu_s=("cpu_s", "sum"), max_rss_mb=("max_rss_mb", "max")
    )
    return grouped.round(1).reset_index()


# The original's ordering of its classifiers, by selector: (better, worse) pairs its AUCs show.
PAPER_ORDERING = (
    [("inclusive", "hlf", selector) for selector in CLASSES]
    + [("particle", "hlf", "qcd"), ("inclusive", "particle", "qcd")]
    # The tree baselines (published for tt̄ and W+jets only): boosting beats the forest, the network beats both.
    + [(better, worse, selector) for better, worse in (("xgboost", "rf"), ("inclusive", "xgboost")) for selector in ("ttbar", "wjets")]
)


def paired_difference(uncertainties: dict, better: str, worse: str, selector: str) -> dict | None:
    """The AUC difference better − worse on ``selector`` (the bootstrap names each pair once, later model
    first), or None where the run did not train both."""
    pairs = uncertainties["pairs"]
    if f"{better} - {worse}" in pairs:
        return pairs[f"{better} - {worse}"][selector]["auc"]
    if f"{worse} - {better}" in pairs:
        reverse = pairs[f"{worse} - {better}"][selector]["auc"]
        return {**reverse, "value": -reverse["value"], "sigmas": -reverse["sigmas"]}
    return None


def paper_agreement(uncertainties: dict) -> list[str]:
    """One line per ordering the original's AUCs show, for the models this run trained: our paired
    difference, in units of its uncertainty, and whether it agrees."""
    lines = []
    for better, worse, selector in PAPER_ORDERING:
        difference = paired_difference(uncertainties, better, worse, selector)
        if difference is None:
            continue
        sigmas = difference["sigmas"]
        verdict = ("agrees" if sigmas > 0 else "contradicts it") + (", beyond 2 σ" if abs(sigmas) > 2 else ", beyond 1 σ" if abs(sigmas) > 1 else "")
        if abs(sigmas) <= 1:
            verdict = "not resolved (within 1 σ)"
        lines.append(
            f"- {selector} selector, {better} > {worse} in the paper: here {better} − {worse} = "
            f"{with_error(difference['value'], difference['error'])} ({sigmas:+.1f} σ): {verdict}."
        )
    return lines


def write_summary(path: str, *, auc_md: str, trigger_md: str, ordering_md: str, uncertainties: str, rates: str, benchmarks: dict, run: dict) -> None:
    """``run``: engine, workers, models, config_hash."""
    rates = read_json(rates)
    uncertainties = read_json(uncertainties)
    timings = stage_timings(benchmarks)
    tested = uncertainties["test_events"]
    lines = [
        "# dltrigger run summary",
        "",
        f"Engine **{run['engine']}**, {run['workers']} training worker(s), models {', '.join(run['models'])}; "
        f"configuration hash `{run['config_hash']}` (plot settings excluded).",
        "",
        "## This run against the paper",
        "",
        f"{tested:,} test events, {100 * tested / PAPER_TEST_EVENTS:.2g} % of the original's {PAPER_TEST_EVENTS:,}: statistical uncertainties "
        f"here are ~{np.sqrt(PAPER_TEST_EVENTS / tested):.0f}x the original's. Every ± is the 68 % interval of a paired bootstrap over "
        f"the test events ({uncertainties['resamples']} resamples); `pull` = (ours − paper) / our uncertainty. The original's "
        "samples had pileup and 3.4 M training events. The bootstrap covers the test events' sampling only; another training "
        "seed moves each difference too, by up to about its bootstrap error, more for the two GRU models against each other on tt̄ and W+jets "
        "(docs/results.md says what a run of this size can show).",
        "",
        *paper_agreement(uncertainties),
        "",
        "## AUC per model and selector (one-vs-rest), beside the original study's",
        "",
        Path(auc_md).read_text(),
        "## Which classifier is better (paired bootstrap)",
        "",
        Path(ordering_md).read_text(),
        "## Trigger operating points",
        "",
        f"Rates at a luminosity of {rates['luminosity_cm2s']:.3g} cm⁻² s⁻¹; the threshold keeps ≥ 99 % of the "
        "selector's signal; `reduction` = background rate before / after the threshold.",
        "",
        Path(trigger_md).read_text(),
        "## Stage timings (from benchmarks/)",
        "",
        markdown_table(timings),
        "## Software",
        "",
        f"Python {platform.python_version()} on {platform.system()} {platform.machine()}; "
        + ", ".join(f"{name} {version}" for name, version in package_versions().items()),
        "",
    ]
    with atomic_path(path) as temporary, open(temporary, "w") as handle:
        handle.write("\n".join(lines))
