"""Snakemake adapter of rule export_original_schema (logic: dltrigger.features)."""

from dltrigger.features import run_export

from _helpers import job

with job(globals()) as snakemake:
    run_export(
        {"train": snakemake.input.train, "test": snakemake.input.test},
        {"train": snakemake.output.train, "test": snakemake.output.test},
        spark_config=snakemake.params.spark,
        threads=snakemake.threads,
    )
