"""Snakemake adapter of rules train and train_trees (logic: dltrigger.train, dltrigger.train.trees)."""

import os

from dltrigger.core.registry import TREE_MODELS
from dltrigger.train import run_training
from dltrigger.train.trees import run_tree_training

from _helpers import job

with job(globals()) as snakemake:
    model = snakemake.wildcards.model
    common = dict(
        train_dir=snakemake.input.train,
        validation_dir=snakemake.input.validation,
        test_dir=snakemake.input.test,
        output_dir=os.path.dirname(snakemake.output.history_json),
        settings=snakemake.params.train,
        spark_config=snakemake.params.spark,
        threads=snakemake.threads,
        seed=snakemake.params.seed,
    )
    if model in TREE_MODELS:
        run_tree_training(model, **common)
    else:
        run_training(model, preprocessing_path=snakemake.input.get("preprocessing"), **common)
