"""Snakemake adapter of rule evaluate (logic: dltrigger.evaluate)."""

from dltrigger.evaluate import run_evaluation
from dltrigger.workflow import job_log

if "snakemake" not in globals():  # run by hand: python scripts/<name>.py TARGET [--configfile FILE]
    from dltrigger.workflow import snakemake_from_command_line

    snakemake = snakemake_from_command_line()

with job_log(snakemake.log[0]):
    run_evaluation(
        snakemake.input.predictions,
        snakemake.output.metrics,
        snakemake.output.roc,
        model=snakemake.wildcards.model,
        engine=snakemake.params.engine,
    )
