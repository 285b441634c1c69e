"""Snakemake adapter of rule uncertainties (logic: dltrigger.evaluate, dltrigger.evaluate.uncertainty)."""

from dltrigger.evaluate.uncertainty import run_uncertainties

from _helpers import job

with job(globals()) as snakemake:
    run_uncertainties(
        dict(zip(snakemake.params.models, snakemake.input.predictions)),
        snakemake.input.rates,
        snakemake.output.uncertainties,
        resamples=snakemake.params.resamples,
        seed=snakemake.params.seed,
    )
