"""Snakemake adapter of rule pileup_pool (logic: dltrigger.generate.pileup)."""

from dltrigger.core.config import derive_seed
from dltrigger.generate.pileup import build_pool

from _helpers import job

with job(globals()) as snakemake:
    build_pool(
        snakemake.output.pool,
        n_events=snakemake.params.events,
        seed=derive_seed(snakemake.params.seed, "pileup"),
        sqrt_s_gev=snakemake.params.sqrt_s_gev,
    )
