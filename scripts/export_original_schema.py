"""Snakemake adapter of rule export_original_schema (logic: dltrigger.features)."""

from dltrigger.features import run_export
from dltrigger.workflow import job_log

if "snakemake" not in globals():  # run by hand: python scripts/<name>.py TARGET [--configfile FILE]
    from dltrigger.workflow import snakemake_from_command_line

    snakemake = snakemake_from_command_line()

with job_log(snakemake.log[0]):
    run_export(
        {"train": snakemake.input.train, "test": snakemake.input.test},
        {"train": snakemake.output.train, "test": snakemake.output.test},
        spark_config=snakemake.params.spark,
        threads=snakemake.threads,
    )
