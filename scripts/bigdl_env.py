"""Snakemake adapter of rule bigdl_env (logic: dltrigger.environments)."""

import os

from _helpers import job

from dltrigger.environments import build_environment

with job(globals()) as snakemake:
    build_environment(os.path.dirname(snakemake.output.marker), snakemake.input.lock, snakemake.params.python)
