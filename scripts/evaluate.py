"""Snakemake adapter of rule evaluate (logic: dltrigger.evaluate)."""

from dltrigger.evaluate.metrics import run_evaluation

from _helpers import job

with job(globals()) as snakemake:
    run_evaluation(
        snakemake.input.predictions,
        snakemake.output.metrics,
        snakemake.output.roc,
        model=snakemake.wildcards.model,
        engine=snakemake.params.engine,
    )
