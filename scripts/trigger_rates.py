"""Snakemake adapter of rule trigger_rates (logic: dltrigger.evaluate)."""

from dltrigger.evaluate import write_rates
from dltrigger.workflow import job_log

if "snakemake" not in globals():  # run by hand: python scripts/<name>.py TARGET [--configfile FILE]
    from dltrigger.workflow import snakemake_from_command_line

    snakemake = snakemake_from_command_line()

with job_log(snakemake.log[0]):
    write_rates(list(snakemake.input.manifests), snakemake.input.events, snakemake.params.luminosity, snakemake.output.rates)
