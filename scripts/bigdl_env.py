"""Snakemake adapter of rule bigdl_env (logic: dltrigger.environments)."""

import os

from dltrigger.environments import build_environment

from _helpers import job

with job(globals()) as snakemake:
    build_environment(os.path.dirname(snakemake.output.marker), snakemake.input.lock, snakemake.params.python)
