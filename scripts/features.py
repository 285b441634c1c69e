"""Snakemake adapter of rule features (logic: dltrigger.features)."""

from dltrigger.features import run_features
from dltrigger.workflow import job_log

if "snakemake" not in globals():  # run by hand: python scripts/<name>.py TARGET [--configfile FILE]
    from dltrigger.workflow import snakemake_from_command_line

    snakemake = snakemake_from_command_line()

with job_log(snakemake.log[0]):
    features = snakemake.params.features
    run_features(
        snakemake.input.events,
        train_path=snakemake.output.train,
        test_path=snakemake.output.test,
        counts_path=snakemake.output.counts,
        spark_config=snakemake.params.spark,
        threads=snakemake.threads,
        seed=snakemake.params.seed,
        quirks=features["original_quirks"],
        scaling=features["particle_scaling"],
        test_fraction=features["test_fraction"],
        padding=features["padding"],
    )
