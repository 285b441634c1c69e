"""One generation job: a chunk of one sample, from Pythia8 to a Delphes ROOT file plus a JSON sidecar."""

from __future__ import annotations

import logging
import os
import time
from importlib.metadata import version

import awkward as ak
import numpy as np

from .. import __version__
from ..core.config import check_pythia_settings, derive_seed
from ..core.files import write_json
from ..physics.delphes import empty_collections, write_delphes
from . import detector
from .events import DecayLibrary, final_state, heavy_flavour_truth, lepton_isolation, redecay_copies, times_through_filter, times_to_write
from .pileup import load_pool, place_vertices
from .processes import COMMON_SETTINGS, PROCESS_CARDS, WEAK_HF_HADRONS, HardProcessVeto, LeptonicWPrescale, make_pythia

log = logging.getLogger(__name__)
BATCH_EVENTS = 500
LIBRARY_DECAYS_PER_SPECIES = 1000
MB_TO_PB = 1e9


def generate_chunk(
    *,
    sample: str,
    label: str,
    process: str,
    chunk: int,
    config: dict,
    root_path: str | os.PathLike,
    metadata_path: str | os.PathLike,
    pileup_pool: str | os.PathLike | None = None,
) -> dict:
    """Generate chunk ``chunk`` of ``sample`` and write it; returns the metadata also written as JSON.

    Seeds derive from (config seed, sample, chunk), so the same call always writes the same events.
    """
    start = time.process_time()  # CPU time: what a cluster job is charged, independent of machine load
    check_pythia_settings(config, [process])  # a misspelt setting: one line before any event
    gen = config["generate"]
    settings = gen["processes"][process]
    copies = settings["redecay"]
    seeds = {part: derive_seed(config["seed"], sample, chunk, part) for part in ("pythia", "detector", "decays", "prescale")}
    rng = np.random.default_rng(seeds["detector"])
    hooks = process_hooks(settings, seeds["prescale"])
    stable = [sign * code for code in WEAK_HF_HADRONS for sign in (1, -1)] if copies > 1 else []
    pythia = make_pythia(PROCESS_CARDS[process], seeds["pythia"], gen["sqrt_s_gev"], settings["pythia"], stable, hooks)
    library = DecayLibrary.build(seeds["decays"], LIBRARY_DECAYS_PER_SPECIES) if copies > 1 else None
    pool = load_pool(pileup_pool) if pileup_pool and config["pileup"]["mu"] > 0 else None

    timings = dict.fromkeys(("pythia", "particles_and_filter", "detector", "write"), 0.0)
    collections, generated = _generate_events(pythia, library, pool, rng, config, process, timings, f"{sample} chunk {chunk}")
    kept = len(collections["Event"])
    tick = time.process_time()
    write_delphes(root_path, collections)
    timings["write"] = time.process_time() - tick
    metadata = _metadata(pythia, config, sample, label, process, chunk, seeds, generated, kept, stable, timings, time.process_time() - start)
    write_json(metadata_path, metadata)
    return metadata


def process_hooks(settings: dict, seed: int):
    """The process-level hook a process's settings ask for (a process has at most one), or None."""
    veto, leptonic_w = settings["hard_process_veto"], settings["leptonic_w"]
    if veto:
        return HardProcessVeto(veto["flavours"], veto["eta_max"])
    if leptonic_w:
        return LeptonicWPrescale(leptonic_w["pt_min_gev"], leptonic_w["eta_max"], leptonic_w["prescale"], seed)
    return None


def _generate_events(pythia, library, pool, rng, config: dict, process: str, timings: dict, name: str):
    """The events of a chunk, in batches: Pythia, the final state (redecayed copies), the lepton filter,
    the leptonic-W prescaled events' replicas (each with its own pileup and detector response: the shower
    was their cost), pileup, the detector, and the copies of the events of the filter's prescaled band
    (identical: the detector was their cost). Returns the Delphes collections of the kept events and the
    Pythia events generated; adds each step's CPU time to ``timings``."""
    settings, lepton_cut, det = config["generate"]["processes"][process], config["generate"]["lepton_filter"], config["detector"]
    clock, outputs, generated = time.process_time, [], 0
    while generated < settings["events_per_chunk"]:
        tick = clock()
        batch = pythia.nextBatch(min(BATCH_EVENTS, settings["events_per_chunk"] - generated))
        timings["pythia"] += clock() - tick
        tick = clock()
        particles, heavy_flavour = final_state(batch), heavy_flavour_truth(batch)
        if library is not None:
            origin, particles = redecay_copies(particles, library, settings["redecay"], rng, lepton_cut["pt_min_gev"], lepton_cut["eta_max"])
        else:
            origin = np.arange(len(particles))
        identical = times_through_filter(lepton_isolation(particles, lepton_cut["pt_min_gev"], lepton_cut["eta_max"]), lepton_cut, rng)
        # The leptonic-W replicas after the filter, which decides alike for identical particles.
        independent = times_to_write(batch)[origin] * (identical > 0) if settings["leptonic_w"] else (identical > 0).astype(np.int64)
        replicas = np.repeat(np.arange(origin.size), independent)
        origin, particles, identical = origin[replicas], particles[replicas], identical[replicas]
        timings["particles_and_filter"] += clock() - tick
        tick = clock()
        if len(particles):
            placed = place_vertices(particles, pool, config["pileup"]["mu"], det["vertex_sigma_z_mm"], det["vertex_sigma_xy_mm"], rng)
            collections = detector.simulate(placed, heavy_flavour[origin], det, rng)
            copies = np.repeat(np.arange(origin.size), identical)
            collections, origin = {name: collection[copies] for name, collection in collections.items()}, origin[copies]
            collections["Event"] = ak.unflatten(
                ak.zip({"Number": generated + origin, "Weight": np.ones(len(origin), np.float32)}), np.ones(len(origin), np.int64)
            )
            outputs.append(collections)
        timings["detector"] += clock() - tick
        generated += len(batch)
        kept = sum(len(part["Event"]) for part in outputs)
        log.info("%s: %d/%d events generated, %d kept", name, generated, settings["events_per_chunk"], kept)
    collections = {name: ak.concatenate([part[name] for part in outputs]) for name in outputs[0]} if outputs else empty_collections()
    return collections, generated


def _metadata(pythia, config, sample, label, process, chunk, seeds, generated, kept, stable, timings, cpu_seconds) -> dict:
    """What a chunk records beside its events: generator, settings, seeds, the filter's efficiency and
    the cross-sections the trigger rates come from, and the CPU time of each step."""
    gen = config["generate"]
    settings = gen["processes"][process]
    copies = settings["redecay"]
    info = pythia.infoPython()
    sigma_pb = info.sigmaGen() * MB_TO_PB
    filter_efficiency = kept / (generated * copies)
    return {
        "sample": sample,
        "label": label,
        "process": process,
        "chunk": chunk,
        "seeds": seeds,
        "events_generated": generated,
        "hard_processes_tried": info.nTried(),
        "redecay_copies": copies,
        "events_kept": kept,
        "filter_efficiency": filter_efficiency,
        "cross_section_pb": sigma_pb,
        "cross_section_error_pb": info.sigmaErr() * MB_TO_PB,
        "filtered_cross_section_pb": sigma_pb * filter_efficiency,
        "cpu_seconds": cpu_seconds,
        "cpu_seconds_by_step": timings,
        "generator": {
            "name": "pythia8mc",
            "version": version("pythia8mc"),
            "settings": [*COMMON_SETTINGS, f"Beams:eCM = {gen['sqrt_s_gev']}", *PROCESS_CARDS[process], *settings["pythia"]],
            "hard_process_veto": settings["hard_process_veto"],
            "leptonic_w": settings["leptonic_w"],
            "stable_for_redecay": stable,
        },
        "lepton_filter": gen["lepton_filter"],
        "pileup_mu": config["pileup"]["mu"],
        "detector": config["detector"],
        "dltrigger_version": __version__,
    }
