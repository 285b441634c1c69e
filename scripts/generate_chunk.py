"""Snakemake adapter of rule generate_chunk (logic: dltrigger.generate.chunk)."""

from dltrigger.generate.chunk import generate_chunk
from dltrigger.workflow import job_log

if "snakemake" not in globals():  # run by hand: python scripts/<name>.py TARGET [--configfile FILE]
    from dltrigger.workflow import snakemake_from_command_line

    snakemake = snakemake_from_command_line()

with job_log(snakemake.log[0]):
    generate_chunk(
        sample=snakemake.wildcards.sample,
        label=snakemake.params.label,
        process=snakemake.params.process,
        chunk=int(snakemake.wildcards.chunk),
        config=snakemake.params.config,
        root_path=snakemake.output.root,
        metadata_path=snakemake.output.meta,
        pileup_pool=snakemake.input.get("pool"),
    )
