"""Per-sample manifest: the sample's ROOT files and, for generated samples, the summed generator bookkeeping
(events, filter efficiency, cross-sections) that later stages use for trigger rates."""

from __future__ import annotations

import json
import os

from ..core.files import write_json


def write_manifest(path: str | os.PathLike, *, sample: str, label: str, source: str, files: list, chunk_metadata: list) -> dict:
    """Combine the chunk sidecars of a generated sample (or just list the files of an external one)."""
    manifest = {"sample": sample, "label": label, "source": source, "files": list(files)}
    if chunk_metadata:
        chunks = []
        for meta_path in chunk_metadata:
            with open(meta_path) as handle:
                chunks.append(json.load(handle))
        trials = sum(c["events_generated"] * c["redecay_copies"] for c in chunks)
        kept = sum(c["events_kept"] for c in chunks)
        # Chunks are statistically equivalent: weight their cross-section estimates by generated events.
        generated = sum(c["events_generated"] for c in chunks)
        cross_section = sum(c["cross_section_pb"] * c["events_generated"] for c in chunks) / generated
        manifest.update(
            process=chunks[0]["process"],
            events_generated=generated,
            events_kept=kept,
            redecay_copies=chunks[0]["redecay_copies"],
            filter_efficiency=kept / trials,
            cross_section_pb=cross_section,
            filtered_cross_section_pb=cross_section * kept / trials,
            cpu_seconds=sum(c["cpu_seconds"] for c in chunks),
        )
    write_json(path, manifest)
    return manifest
