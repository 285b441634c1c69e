"""Snakemake adapter of rule keras_env (logic: dltrigger.environments)."""

import os

from dltrigger.environments import build_layer

from _helpers import job

with job(globals()) as snakemake:
    build_layer(os.path.dirname(snakemake.output.marker), snakemake.input.lock)
