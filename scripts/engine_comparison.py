"""Snakemake adapter of rule engine_comparison (logic: dltrigger.compare)."""

from dltrigger.compare import write_comparison
from dltrigger.workflow import job_log

if "snakemake" not in globals():  # run by hand: python scripts/<name>.py TARGET [--configfile FILE]
    from dltrigger.workflow import snakemake_from_command_line

    snakemake = snakemake_from_command_line()

with job_log(snakemake.log[0]):
    runs = [(engine, model) for engine in snakemake.params.engines for model in snakemake.params.models]
    write_comparison([(*run, history, predictions) for run, history, predictions in zip(runs, snakemake.input.histories, snakemake.input.predictions)],
                     snakemake.output.table)  # fmt: skip
