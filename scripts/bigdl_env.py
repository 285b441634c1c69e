"""Snakemake adapter of rule bigdl_env (logic: dltrigger.train.bigdl_engine)."""

import os

from dltrigger.train.bigdl_engine import build_environment
from dltrigger.workflow import job_log

if "snakemake" not in globals():  # run by hand: python scripts/<name>.py TARGET [--configfile FILE]
    from dltrigger.workflow import snakemake_from_command_line

    snakemake = snakemake_from_command_line()

with job_log(snakemake.log[0]):
    build_environment(os.path.dirname(snakemake.output.marker), snakemake.input.lock, snakemake.params.python)
