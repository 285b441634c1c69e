"""Snakemake adapter of rule replay_chunks (logic: dltrigger.trigger.stream)."""

from dltrigger.trigger.stream import prepare_replay

from _helpers import job

with job(globals()) as snakemake:
    prepare_replay(snakemake.input.test, snakemake.output.replay, snakemake.params.events_per_chunk, snakemake.params.seed)
