"""Each class's rate into the trigger (rule trigger_rates): its cross-section after the isolated-lepton
selection, from the generation's manifests and the ingestion's selected events, times the luminosity."""

from __future__ import annotations

from collections import Counter

from ..core.files import read_json, write_json
from ..core.schema import CLASSES

# Picobarn -> cm^2: a rate in Hz is sigma [pb] x 1e-36 x luminosity [cm^-2 s^-1].
PB_IN_CM2 = 1e-36


def trigger_cross_sections(manifests: list[str], events_dir: str) -> dict:
    """Cross-section (pb) of each class after the isolated-lepton selection: per generated sample, its
    lepton-filtered cross-section times the fraction of its events the ingestion selected. None for a
    class with a sample of unknown cross-section (external Delphes files) or none at all (external
    feature tables: no manifests)."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    selected = Counter()
    if manifests:
        for item in pc.value_counts(pq.read_table(events_dir, columns=["source_file"]).column("source_file")).to_pylist():
            selected[item["values"]] += item["counts"]
    parts, unknown = {c: [] for c in CLASSES}, set()
    for path in manifests:
        manifest = read_json(path)
        if "filtered_cross_section_pb" not in manifest:
            unknown.add(manifest["label"])
            continue
        kept = sum(selected[file] for file in manifest["files"])
        parts[manifest["label"]].append(manifest["filtered_cross_section_pb"] * kept / manifest["events_kept"])
    return {c: sum(parts[c]) if parts[c] and c not in unknown else None for c in CLASSES}


def write_rates(manifests: list[str], events_dir: str | None, luminosity: float, path: str) -> dict:
    """Trigger-level cross-section and rate of each class (JSON), for the trigger table and figures."""
    sigma = trigger_cross_sections(manifests, events_dir)
    rates = {
        "luminosity_cm2s": luminosity,
        "cross_section_pb": sigma,
        "rate_hz": {c: None if s is None else s * PB_IN_CM2 * luminosity for c, s in sigma.items()},
    }
    write_json(path, rates)
    return rates
