"""A fast, vectorized, CMS-like detector simulation producing the Delphes collections the study reads.

Tracker: charged particles within |eta| < 2.5 above 0.5 GeV, with an efficiency and a pT resolution.
Calorimeters: electrons and photons deposit in ECAL towers, hadrons in HCAL towers (0.087 x 0.087),
smeared with stochastic/constant/noise terms. Particle flow as in Delphes: tracked energy is removed from
the towers, what remains above threshold becomes EFlowPhoton (ECAL) or EFlowNeutralHadron (HCAL).
Electrons and tight muons come from the generator leptons with efficiencies and resolutions; their
(eta, phi) are those of their track, so the ingestion can recognise the lepton's own track. Jets are
anti-kt R = 0.4 over the energy-flow objects (fastjet), b-tagged by matching weakly decaying b/c
hadrons; the missing ET balances the energy-flow objects.

All steps run on flat numpy arrays of the whole batch (particle -> event index), no loop over events.
"""

from __future__ import annotations

import functools

import awkward as ak
import fastjet
import numpy as np
import pandas as pd
import pythia8mc

from ..physics.kinematics import delta_phi, pt_eta_phi
from .events import INVISIBLE_IDS


@functools.lru_cache(maxsize=1)
def _particle_data():
    return pythia8mc.Pythia("", False).particleData


def charges(pdg_ids: np.ndarray) -> np.ndarray:
    """Electric charge of each PDG id: a lookup over the few hundred distinct ids (found by hashing, not by
    sorting every particle), then a vectorized gather."""
    distinct = np.sort(pd.unique(pdg_ids))
    data = _particle_data()
    return np.array([data.charge(int(code)) for code in distinct], dtype=np.float64)[np.searchsorted(distinct, pdg_ids)]


def _resolution(energy, terms):
    a, b, c = terms
    return np.sqrt((a * energy) ** 2 + b * b * energy + c * c)


def _jagged(columns: dict, event: np.ndarray, n_events: int) -> ak.Array:
    """Flat columns (rows already grouped by event, in event order) as a jagged per-event record array."""
    return ak.unflatten(ak.zip(columns), np.bincount(event, minlength=n_events))


def simulate(particles: ak.Array, heavy_flavour: ak.Array, cfg: dict, rng: np.random.Generator) -> dict:
    """Detector response to final-state ``particles`` (id, px, py, pz, e, vx, vy, vz per event).

    ``heavy_flavour`` holds the weakly decaying b/c hadrons (pt, eta, phi, flavour) used for b-tagging.
    Returns the Delphes collections as jagged awkward records, float32/int32 like Delphes. The steps draw
    their random numbers in a fixed order, so the same seed gives the same events.
    """
    n_events = len(particles)
    event = np.repeat(np.arange(n_events), ak.to_numpy(ak.num(particles)))
    flat = {name: ak.to_numpy(ak.flatten(particles[name])) for name in particles.fields}
    pt, eta, phi = pt_eta_phi(flat["px"], flat["py"], flat["pz"])
    truth = {
        "event": event,
        "id": flat["id"],
        "abs_id": np.abs(flat["id"]),
        "charge": charges(flat["id"]),
        "pt": pt,
        "eta": eta,
        "phi": phi,
        "e": flat["e"],
        "vertex": (flat["vx"], flat["vy"], flat["vz"]),
    }
    tracked, track_pt, tracks = _tracker(truth, n_events, cfg, rng)
    electrons, muons = _leptons(truth, tracked, track_pt, n_events, cfg, rng)
    towers = _calorimeter(truth, tracked, n_events, cfg, rng)
    neutral_collections = {
        name: _jagged({field: columns[field].astype(np.float32) for field in ("ET", "Eta", "Phi", "E")}, columns["event"], n_events)
        for name, columns in towers.items()
    }
    flow, missing_et = _particle_flow(truth, tracked, track_pt, towers, n_events)
    jets = _jets(flow, heavy_flavour, cfg, rng)
    return {"EFlowTrack": tracks, **neutral_collections, "Electron": electrons, "MuonTight": muons, "Jet": jets, "MissingET": missing_et}


def _tracker(truth: dict, n_events: int, cfg: dict, rng: np.random.Generator):
    """Charged particles in acceptance, tracked with an efficiency and a pT resolution. Leptons in
    acceptance are always tracked: their identification efficiency includes it. Returns the tracked mask,
    every particle's measured pT and the EFlowTrack collection."""
    n, pt, eta = truth["pt"].size, truth["pt"], truth["eta"]
    is_lepton = (truth["abs_id"] == 11) | (truth["abs_id"] == 13)
    in_tracker = (truth["charge"] != 0) & (np.abs(eta) < cfg["tracker_eta_max"]) & (pt > cfg["track_pt_min_gev"])
    tracked = in_tracker & ((rng.random(n) < cfg["track_efficiency"]) | is_lepton)
    a, b = cfg["track_resolution"]
    track_pt = pt * np.abs(1.0 + rng.normal(size=n) * np.hypot(a, b * pt))
    vx, vy, vz = truth["vertex"]
    columns = {
        "PID": truth["id"].astype(np.int32),
        "Charge": truth["charge"].astype(np.int32),
        "PT": track_pt.astype(np.float32),
        "Eta": eta.astype(np.float32),
        "Phi": truth["phi"].astype(np.float32),
        "X": vx.astype(np.float32),
        "Y": vy.astype(np.float32),
        "Z": vz.astype(np.float32),
    }
    return tracked, track_pt, _jagged({name: values[tracked] for name, values in columns.items()}, truth["event"][tracked], n_events)


def _leptons(truth: dict, tracked, track_pt, n_events: int, cfg: dict, rng: np.random.Generator):
    """Electrons (ECAL energy with the track's direction) and tight muons (the track), each identified with
    its efficiency above the threshold, ordered by decreasing pT."""
    n, eta, abs_id = truth["pt"].size, truth["eta"], truth["abs_id"]
    electron_eff = np.where(np.abs(eta) < 1.5, *cfg["electron_efficiency"])
    electron_pt = np.maximum(truth["e"] + rng.normal(size=n) * _resolution(truth["e"], cfg["ecal_resolution"]), 0.0) / np.cosh(eta)
    draw = rng.random(n)
    is_electron = (abs_id == 11) & tracked & (draw < electron_eff) & (electron_pt > cfg["lepton_pt_min_gev"])
    is_muon = (abs_id == 13) & tracked & (np.abs(eta) < cfg["muon_eta_max"]) & (draw < cfg["muon_efficiency"]) & (track_pt > cfg["lepton_pt_min_gev"])
    leptons = (truth["eta"], truth["phi"], truth["charge"], truth["event"], n_events)
    return _sorted_leptons(is_electron, electron_pt, *leptons), _sorted_leptons(is_muon, track_pt, *leptons)


def _calorimeter(truth: dict, tracked, n_events: int, cfg: dict, rng: np.random.Generator) -> dict:
    """ECAL and HCAL towers (muons and neutrinos leave nothing) measured with their resolutions; particle
    flow subtracts the energy of tracked particles, and what is left above threshold is an EFlowPhoton
    or EFlowNeutralHadron. Returns flat columns (event, E, ET, Eta, Phi) per collection."""
    abs_id, eta, phi, event, energy = truth["abs_id"], truth["eta"], truth["phi"], truth["event"], truth["e"]
    in_calo = ~np.isin(abs_id, INVISIBLE_IDS) & (abs_id != 13) & (np.abs(eta) < cfg["calorimeter_eta_max"])
    is_em = (abs_id == 11) | (abs_id == 22)
    size = cfg["tower_size"]
    n_eta = int(np.ceil(2 * cfg["calorimeter_eta_max"] / size))
    n_phi = int(round(2 * np.pi / size))
    ieta = np.clip(((eta + cfg["calorimeter_eta_max"]) / size).astype(np.int64), 0, n_eta - 1)
    iphi = np.clip(((phi + np.pi) / (2 * np.pi) * n_phi).astype(np.int64), 0, n_phi - 1)
    tower = (event * n_eta + ieta) * n_phi + iphi
    towers = {}
    for name, in_layer, resolution, threshold in (
        ("EFlowPhoton", in_calo & is_em, cfg["ecal_resolution"], cfg["eflow_photon_e_min_gev"]),
        ("EFlowNeutralHadron", in_calo & ~is_em, cfg["hcal_resolution"], cfg["eflow_neutral_e_min_gev"]),
    ):
        # Sums over every tower of the batch by its number (no sort of the deposits), then the hit towers.
        cells = n_events * n_eta * n_phi
        keys = np.flatnonzero(np.bincount(tower[in_layer], minlength=cells))
        deposit = np.bincount(tower[in_layer], weights=energy[in_layer], minlength=cells)[keys]
        measured = np.maximum(deposit + rng.normal(size=keys.size) * _resolution(deposit, resolution), 0.0)
        tracked_energy = np.bincount(tower[in_layer], weights=(energy * tracked)[in_layer], minlength=cells)[keys]
        remainder = measured - tracked_energy
        keep = remainder > threshold
        keys, left = keys[keep], remainder[keep]
        tower_eta = ((keys // n_phi) % n_eta + 0.5) * size - cfg["calorimeter_eta_max"]
        tower_phi = ((keys % n_phi) + 0.5) * (2 * np.pi / n_phi) - np.pi
        towers[name] = {"event": keys // (n_eta * n_phi), "E": left, "ET": left / np.cosh(tower_eta), "Eta": tower_eta, "Phi": tower_phi}
    return towers


def _particle_flow(truth: dict, tracked, track_pt, towers: dict, n_events: int):
    """The energy-flow objects (tracks and towers, massless) for the jets, and the missing ET that
    balances them."""
    event, eta, phi = truth["event"], truth["eta"], truth["phi"]
    parts = [{"event": event[tracked], "ET": track_pt[tracked], "Eta": eta[tracked], "Phi": phi[tracked]}, *towers.values()]
    flow_event, flow_pt, flow_eta, flow_phi = (np.concatenate([part[key] for part in parts]) for key in ("event", "ET", "Eta", "Phi"))
    order = np.argsort(flow_event, kind="stable")
    flow_event, flow_pt, flow_eta, flow_phi = flow_event[order], flow_pt[order], flow_eta[order], flow_phi[order]
    flow_px, flow_py = flow_pt * np.cos(flow_phi), flow_pt * np.sin(flow_phi)
    met_x = -np.bincount(flow_event, weights=flow_px, minlength=n_events)
    met_y = -np.bincount(flow_event, weights=flow_py, minlength=n_events)
    missing_et = ak.unflatten(
        ak.zip({"MET": np.hypot(met_x, met_y).astype(np.float32), "Phi": np.arctan2(met_y, met_x).astype(np.float32)}),
        np.ones(n_events, dtype=np.int64),
    )
    flow = _jagged({"px": flow_px, "py": flow_py, "pz": flow_pt * np.sinh(flow_eta), "E": flow_pt * np.cosh(flow_eta)}, flow_event, n_events)
    return flow, missing_et


def _sorted_leptons(selected, pt, eta, phi, charge, event, n_events):
    index = np.flatnonzero(selected)
    index = index[np.lexsort((-pt[index], event[index]))]
    return _jagged(
        {
            "PT": pt[index].astype(np.float32),
            "Eta": eta[index].astype(np.float32),
            "Phi": phi[index].astype(np.float32),
            "Charge": charge[index].astype(np.int32),
        },
        event[index],
        n_events,
    )


def _jets(flow: ak.Array, heavy_flavour: ak.Array, cfg: dict, rng: np.random.Generator) -> ak.Array:
    """Anti-kt jets over the energy-flow objects, pT-ordered, with a b-tag from heavy-hadron matching."""
    definition = fastjet.JetDefinition(fastjet.antikt_algorithm, cfg["jet_radius"])
    jets = fastjet.ClusterSequence(flow, definition).inclusive_jets(min_pt=cfg["jet_pt_min_gev"])
    pt, eta, phi = pt_eta_phi(jets.px, jets.py, jets.pz)
    mass = np.sqrt(np.maximum(jets.E**2 - jets.px**2 - jets.py**2 - jets.pz**2, 0.0))
    order = ak.argsort(pt, ascending=False)
    pt, eta, phi, mass = pt[order], eta[order], phi[order], mass[order]

    hadrons = heavy_flavour[heavy_flavour.pt > 5.0]
    pairs = ak.cartesian({"jet": ak.zip({"eta": eta, "phi": phi}), "had": hadrons}, nested=True)
    matched = (pairs.jet.eta - pairs.had.eta) ** 2 + delta_phi(pairs.jet.phi, pairs.had.phi) ** 2 < cfg["jet_radius"] ** 2
    flavour = ak.fill_none(ak.max(ak.where(matched, pairs.had.flavour, 0), axis=-1), 0)
    eff = cfg["btag_efficiency"]
    flat_flavour = ak.to_numpy(ak.flatten(flavour))
    flat_eta = ak.to_numpy(ak.flatten(eta))
    probability = np.select([flat_flavour == 5, flat_flavour == 4], [eff["b"], eff["c"]], eff["light"])
    probability = np.where(np.abs(flat_eta) < cfg["tracker_eta_max"], probability, 0.0)
    btag = ak.unflatten(rng.random(flat_flavour.size) < probability, ak.num(eta))
    return ak.zip(
        {
            "PT": ak.values_astype(pt, np.float32),
            "Eta": ak.values_astype(eta, np.float32),
            "Phi": ak.values_astype(phi, np.float32),
            "Mass": ak.values_astype(mass, np.float32),
            "BTag": ak.values_astype(btag, np.int32),
        }
    )
