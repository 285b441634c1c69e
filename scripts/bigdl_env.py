"""Snakemake adapter of rule bigdl_env (logic: dltrigger.tools.environments)."""

import os

from dltrigger.tools.environments import build_environment

from _helpers import job

with job(globals()) as snakemake:
    build_environment(os.path.dirname(snakemake.output.marker), snakemake.input.lock, snakemake.params.python)
