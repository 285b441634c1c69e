"""Snakemake adapter of rule evaluation_tables (logic: dltrigger.evaluate)."""

from dltrigger.evaluate import write_tables
from dltrigger.workflow import job_log

if "snakemake" not in globals():  # run by hand: python scripts/<name>.py TARGET [--configfile FILE]
    from dltrigger.workflow import snakemake_from_command_line

    snakemake = snakemake_from_command_line()

with job_log(snakemake.log[0]):
    write_tables(list(snakemake.input.metrics), snakemake.input.rates, snakemake.input.uncertainties, dict(snakemake.output.items()))
