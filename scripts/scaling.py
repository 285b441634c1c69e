"""Snakemake adapter of rule scaling (logic: dltrigger.scaling)."""

from dltrigger.files import read_json
from dltrigger.scaling import measure
from dltrigger.workflow import job_log

if "snakemake" not in globals():  # run by hand: python scripts/<name>.py TARGET [--configfile FILE]
    from dltrigger.workflow import snakemake_from_command_line

    snakemake = snakemake_from_command_line()

with job_log(snakemake.log[0]):
    manifests = [read_json(path) for path in snakemake.input.manifests]
    measure(
        [{key: manifest[key] for key in ("sample", "label", "files")} for manifest in manifests],
        train_dir=snakemake.input.train,
        test_dir=snakemake.input.test,
        output=snakemake.output.table,
        settings=snakemake.params.scaling,
        spark_config=snakemake.params.spark,
        train_settings=snakemake.params.train,
        quirks=snakemake.params.quirks,
        seed=snakemake.params.seed,
    )
