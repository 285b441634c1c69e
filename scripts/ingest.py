"""Snakemake adapter of rule ingest (logic: dltrigger.ingest)."""

import json

from dltrigger.ingest import run_ingest
from dltrigger.workflow import job_log

if "snakemake" not in globals():  # run by hand: python scripts/<name>.py TARGET [--configfile FILE]
    from dltrigger.workflow import snakemake_from_command_line

    snakemake = snakemake_from_command_line()

with job_log(snakemake.log[0]):
    samples = []
    for path in snakemake.input.manifests:
        with open(path) as handle:
            manifest = json.load(handle)
        samples.append({"sample": manifest["sample"], "label": manifest["label"], "files": manifest["files"]})
    run_ingest(
        samples,
        output=snakemake.output.events,
        cutflow_path=snakemake.output.cutflow,
        spark_config=snakemake.params.spark,
        threads=snakemake.threads,
        quirks=snakemake.params.quirks,
        events_per_task=snakemake.params.events_per_task,
        remote=snakemake.params.remote,
    )
