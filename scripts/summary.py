"""Snakemake adapter of rule summary (logic: dltrigger.summary)."""

from dltrigger.summary import write_summary
from dltrigger.workflow import job_log

if "snakemake" not in globals():  # run by hand: python scripts/<name>.py TARGET [--configfile FILE]
    from dltrigger.workflow import snakemake_from_command_line

    snakemake = snakemake_from_command_line()

with job_log(snakemake.log[0]):
    write_summary(
        snakemake.output.summary,
        auc_md=snakemake.input.auc_md,
        trigger_md=snakemake.input.trigger_md,
        ordering_md=snakemake.input.ordering_md,
        uncertainties=snakemake.input.uncertainties,
        rates=snakemake.input.rates,
        benchmarks=list(snakemake.input.benchmarks),
        run=snakemake.params.run,
    )
