"""Snakemake adapter of rule evaluation_tables (logic: dltrigger.evaluate)."""

from _helpers import job

from dltrigger.evaluate import write_tables

with job(globals()) as snakemake:
    write_tables(list(snakemake.input.metrics), snakemake.input.rates, snakemake.input.uncertainties, dict(snakemake.output.items()))
