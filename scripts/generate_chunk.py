"""Snakemake adapter of rule generate_chunk (logic: dltrigger.generate.chunk)."""

from dltrigger.generate.chunk import generate_chunk

from _helpers import job

with job(globals()) as snakemake:
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
