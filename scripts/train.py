"""Snakemake adapter of rule train (logic: dltrigger.train)."""

import os

from dltrigger.train import run_training
from dltrigger.workflow import job_log

if "snakemake" not in globals():  # run by hand: python scripts/<name>.py TARGET [--configfile FILE]
    from dltrigger.workflow import snakemake_from_command_line

    snakemake = snakemake_from_command_line()

with job_log(snakemake.log[0]):
    run_training(
        snakemake.wildcards.model,
        train_dir=snakemake.input.train,
        test_dir=snakemake.input.test,
        output_dir=os.path.dirname(snakemake.output.history_json),
        settings=snakemake.params.train,
        spark_config=snakemake.params.spark,
        threads=snakemake.threads,
        seed=snakemake.params.seed,
    )
