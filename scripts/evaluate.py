"""Snakemake adapter of rule evaluate (logic: dltrigger.evaluate)."""

from _helpers import job

from dltrigger.evaluate import run_evaluation

with job(globals()) as snakemake:
    run_evaluation(
        snakemake.input.predictions,
        snakemake.output.metrics,
        snakemake.output.roc,
        model=snakemake.wildcards.model,
        engine=snakemake.params.engine,
    )
