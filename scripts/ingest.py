"""Snakemake adapter of rule ingest (logic: dltrigger.ingest)."""

import json

from dltrigger.ingest import run_ingest
from dltrigger.physics.quirks import Quirks

from _helpers import job

with job(globals()) as snakemake:
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
        quirks=Quirks.of(snakemake.params.quirks),
        events_per_task=snakemake.params.events_per_task,
        remote=snakemake.params.remote,
    )
