"""Snakemake adapter of rule features (logic: dltrigger.features)."""

from dltrigger.features import run_features
from dltrigger.physics.preprocess import Preprocessing

from _helpers import job

with job(globals()) as snakemake:
    features = snakemake.params.features
    run_features(
        snakemake.input.events,
        outputs={name: snakemake.output[name] for name in ("train", "validation", "test", "counts", "preprocessing")},
        spark_config=snakemake.params.spark,
        threads=snakemake.threads,
        seed=snakemake.params.seed,
        preprocessing=Preprocessing.of_settings(features),
        test_fraction=features["test_fraction"],
        validation_fraction=features["validation_fraction"],
    )
