"""Snakemake adapter of rule sample_manifest (logic: dltrigger.generate.manifest)."""

from _helpers import job

from dltrigger.generate.manifest import write_manifest
from dltrigger.sources import expand_source

with job(globals()) as snakemake:
    source = snakemake.params.source
    generated = source == "generate"
    write_manifest(
        snakemake.output.manifest,
        sample=snakemake.wildcards.sample,
        label=snakemake.params.label,
        source=source,
        files=list(snakemake.input.root) if generated else expand_source(source, snakemake.params.remote),
        chunk_metadata=list(snakemake.input.meta) if generated else [],
    )
