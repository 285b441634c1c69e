"""Snakemake adapter of rule engine_comparison (logic: dltrigger.evaluate.compare)."""

from dltrigger.evaluate.compare import write_comparison

from _helpers import job

with job(globals()) as snakemake:
    runs = [(engine, model) for engine in snakemake.params.engines for model in snakemake.params.models]
    write_comparison(
        [(*run, history, predictions) for run, history, predictions in zip(runs, snakemake.input.histories, snakemake.input.predictions)],
        snakemake.output.table,
    )
