"""Snakemake adapter of rule scalability (logic: dltrigger.scalability)."""

from dltrigger.core.files import read_json
from dltrigger.ingest import run_ingest
from dltrigger.physics.quirks import Quirks
from dltrigger.scalability import measure
from dltrigger.train import run_training

from _helpers import job

with job(globals()) as snakemake:
    manifests = [read_json(path) for path in snakemake.input.manifests]
    measure(
        [{key: manifest[key] for key in ("sample", "label", "files")} for manifest in manifests],
        train_dir=snakemake.input.train,
        validation_dir=snakemake.input.validation,
        test_dir=snakemake.input.test,
        output=snakemake.output.table,
        settings=snakemake.params.scalability,
        spark_config=snakemake.params.spark,
        train_settings=snakemake.params.train,
        quirks=Quirks.of(snakemake.params.quirks),
        seed=snakemake.params.seed,
        run_ingest=run_ingest,
        run_training=run_training,
    )
