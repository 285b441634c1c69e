"""Snakemake adapter of rule trigger_rates (logic: dltrigger.evaluate)."""

from dltrigger.evaluate import write_rates
from dltrigger.workflow import job_log

if "snakemake" not in globals():  # run by hand: python scripts/<name>.py TARGET [--configfile FILE]
    from dltrigger.workflow import snakemake_from_command_line

    snakemake = snakemake_from_command_line()

with job_log(snakemake.log[0]):
    inputs = dict(snakemake.input.items())  # none with external feature tables: no cross-sections
    write_rates(list(inputs.get("manifests", [])), inputs.get("events"), snakemake.params.luminosity, snakemake.output.rates)
