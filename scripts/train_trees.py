"""Snakemake adapter of rule train_trees (logic: dltrigger.train.trees)."""

import os

from dltrigger.train.trees import run_tree_training

from _helpers import job

with job(globals()) as snakemake:
    run_tree_training(
        snakemake.wildcards.model,
        train_dir=snakemake.input.train,
        test_dir=snakemake.input.test,
        output_dir=os.path.dirname(snakemake.output.history_json),
        settings=snakemake.params.train,
        spark_config=snakemake.params.spark,
        threads=snakemake.threads,
        seed=snakemake.params.seed,
    )
