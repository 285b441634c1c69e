"""Snakemake adapter of the plotting rules plot_* (logic: dltrigger.plots)."""

from dltrigger.plots import draw
from dltrigger.workflow import job_log

if "snakemake" not in globals():  # run by hand: python scripts/<name>.py TARGET [--configfile FILE]
    from dltrigger.workflow import snakemake_from_command_line

    snakemake = snakemake_from_command_line()

with job_log(snakemake.log[0]):
    draw(
        snakemake.rule,
        inputs=dict(snakemake.input.items()),
        outputs=dict(snakemake.output.items()),
        models=list(getattr(snakemake.params, "models", [])),
        settings=snakemake.params.plots,
    )
