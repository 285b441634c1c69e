"""Snakemake adapter of rule export_onnx (logic: dltrigger.trigger.export)."""

from dltrigger.trigger.export import run_export

from _helpers import job

with job(globals()) as snakemake:
    run_export(
        snakemake.wildcards.model,
        model_path=snakemake.input.model,
        test_dir=snakemake.input.test,
        preprocessing_path=snakemake.input.preprocessing,
        rates_path=snakemake.input.rates,
        paths=snakemake.params.paths,
        onnx_path=snakemake.output.onnx,
        menu_path=snakemake.output.menu,
        keras_environment=snakemake.params.keras_environment,
    )
