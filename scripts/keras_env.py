"""Snakemake adapter of rule keras_env (logic: dltrigger.tools.environments)."""

import os

from dltrigger.tools.environments import build_layer

from _helpers import job

with job(globals()) as snakemake:
    build_layer(os.path.dirname(snakemake.output.marker), snakemake.input.lock)
