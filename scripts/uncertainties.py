"""Snakemake adapter of rule uncertainties (logic: dltrigger.evaluate, dltrigger.uncertainty)."""

from dltrigger.evaluate import run_uncertainties
from dltrigger.workflow import job_log

if "snakemake" not in globals():  # run by hand: python scripts/<name>.py TARGET [--configfile FILE]
    from dltrigger.workflow import snakemake_from_command_line

    snakemake = snakemake_from_command_line()

with job_log(snakemake.log[0]):
    run_uncertainties(
        dict(zip(snakemake.params.models, snakemake.input.predictions)),
        snakemake.input.rates,
        snakemake.output.uncertainties,
        resamples=snakemake.params.resamples,
        seed=snakemake.params.seed,
    )
