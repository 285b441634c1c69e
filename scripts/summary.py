"""Snakemake adapter of rule summary (logic: dltrigger.evaluate.summary)."""

from dltrigger.evaluate.summary import write_summary

from _helpers import job

with job(globals()) as snakemake:
    write_summary(
        snakemake.output.summary,
        auc_md=snakemake.input.auc_md,
        trigger_md=snakemake.input.trigger_md,
        ordering_md=snakemake.input.ordering_md,
        uncertainties=snakemake.input.uncertainties,
        rates=snakemake.input.rates,
        benchmarks={name.removeprefix("benchmarks_"): list(paths) for name, paths in snakemake.input.items() if name.startswith("benchmarks_")},
        run=snakemake.params.run,
    )
