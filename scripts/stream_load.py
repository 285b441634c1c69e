"""Snakemake adapter of rule stream_load (logic: dltrigger.trigger.load)."""

from dltrigger.trigger.load import run_load_study

from _helpers import job

with job(globals()) as snakemake:
    trigger = snakemake.params.trigger
    study = trigger["load_study"]
    run_load_study(
        snakemake.input.menu,
        replay_dir=snakemake.input.replay,
        output=snakemake.output.table,
        spark_config=snakemake.params.spark,
        cores=snakemake.threads,
        loads=study["loads"],
        repeats=study["repeats"],
        copies=study["copies"],
        chunks_per_batch=trigger["chunks_per_batch"],
        timeout_seconds=trigger["timeout_minutes"] * 60,
    )
