"""Snakemake adapter of rule engine_comparison (logic: dltrigger.compare)."""

from _helpers import job

from dltrigger.compare import write_comparison

with job(globals()) as snakemake:
    runs = [(engine, model) for engine in snakemake.params.engines for model in snakemake.params.models]
    write_comparison([(*run, history, predictions) for run, history, predictions in zip(runs, snakemake.input.histories, snakemake.input.predictions)],
                     snakemake.output.table)  # fmt: skip
