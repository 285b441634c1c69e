"""Snakemake adapter of rule evaluation_tables (logic: dltrigger.evaluate)."""

from dltrigger.evaluate.tables import write_tables

from _helpers import job

with job(globals()) as snakemake:
    write_tables(list(snakemake.input.metrics), snakemake.input.rates, snakemake.input.uncertainties, dict(snakemake.output.items()))
