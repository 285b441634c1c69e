"""Snakemake adapter of rule pileup_pool (logic: dltrigger.generate.pileup)."""

from dltrigger.config import derive_seed
from dltrigger.generate.pileup import build_pool
from dltrigger.workflow import job_log

with job_log(snakemake.log[0]):
    build_pool(
        snakemake.output.pool,
        n_events=snakemake.params.events,
        seed=derive_seed(snakemake.params.seed, "pileup"),
        sqrt_s_gev=snakemake.params.sqrt_s_gev,
    )
