"""Snakemake adapter of rule features (logic: dltrigger.features)."""

from dltrigger.features import run_features
from dltrigger.physics.quirks import Quirks

from _helpers import job

with job(globals()) as snakemake:
    features = snakemake.params.features
    run_features(
        snakemake.input.events,
        outputs={split: snakemake.output[split] for split in ("train", "validation", "test")},
        counts_path=snakemake.output.counts,
        spark_config=snakemake.params.spark,
        threads=snakemake.threads,
        seed=snakemake.params.seed,
        quirks=Quirks.of(features["original_quirks"]),
        scaling=features["particle_scaling"],
        test_fraction=features["test_fraction"],
        validation_fraction=features["validation_fraction"],
        padding=features["padding"],
        hlf_scaling=features["hlf_scaling"],
    )
