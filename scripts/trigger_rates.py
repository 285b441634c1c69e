"""Snakemake adapter of rule trigger_rates (logic: dltrigger.evaluate)."""

from dltrigger.evaluate.rates import write_rates

from _helpers import job

with job(globals()) as snakemake:
    inputs = dict(snakemake.input.items())  # none with external feature tables: no cross-sections
    write_rates(list(inputs.get("manifests", [])), inputs.get("events"), snakemake.params.luminosity, snakemake.output.rates)
