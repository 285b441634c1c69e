"""Snakemake adapter of rule sample_manifest (logic: dltrigger.generate.manifest)."""

from dltrigger.core.sources import expand_source
from dltrigger.generate.manifest import write_manifest

from _helpers import job

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
