"""Snakemake adapter of rule stream_trigger (logic: dltrigger.trigger.stream)."""

import os

from dltrigger.trigger.stream import run_stream

from _helpers import job

with job(globals()) as snakemake:
    trigger = snakemake.params.trigger
    run_stream(
        snakemake.input.menu,
        replay_dir=snakemake.input.replay,
        output_dir=os.path.dirname(snakemake.output.summary),
        spark_config=snakemake.params.spark,
        threads=snakemake.threads,
        events_per_second=trigger["events_per_second"],
        chunks_per_batch=trigger["chunks_per_batch"],
        timeout_seconds=trigger["timeout_minutes"] * 60,
    )
