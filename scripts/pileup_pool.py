"""Snakemake adapter of rule pileup_pool (logic: dltrigger.generate.pileup)."""

from dltrigger.config import derive_seed
from dltrigger.generate.pileup import build_pool
from dltrigger.workflow import job_log

if "snakemake" not in globals():  # run by hand: python scripts/<name>.py TARGET [--configfile FILE]
    from dltrigger.workflow import snakemake_from_command_line

    snakemake = snakemake_from_command_line()

with job_log(snakemake.log[0]):
    build_pool(
        snakemake.output.pool,
        n_events=snakemake.params.events,
        seed=derive_seed(snakemake.params.seed, "pileup"),
        sqrt_s_gev=snakemake.params.sqrt_s_gev,
    )
