"""The trigger-emulating isolated-lepton selection of the original study (§B of the reference), vectorized.

An electron or tight muon with pT > 23 GeV whose relative isolation (charged tracks with pT > 0.5 GeV,
neutral hadrons and photons with ET > 1 GeV, within dR < 0.3) is below 0.45.
"""

from __future__ import annotations

import awkward as ak
import numpy as np

from .kinematics import cone_sums

LEPTON_PT_MIN = 23.0
ISOLATION_MAX = 0.45
CONE = 0.3
SELF_MATCH_DR = 1e-4  # the lepton's own track: the detector gives it the lepton's (eta, phi)

BRANCHES = {
    "EFlowTrack": ("PT", "Eta", "Phi"),
    "EFlowPhoton": ("ET", "Eta", "Phi"),
    "EFlowNeutralHadron": ("ET", "Eta", "Phi"),
    "Electron": ("PT", "Eta", "Phi", "Charge"),
    "MuonTight": ("PT", "Eta", "Phi", "Charge"),
}


def lepton_isolation(leptons, events) -> dict:
    """Charged, photon and neutral-hadron relative isolation of each lepton (jagged like ``leptons``)."""
    tracks = events["EFlowTrack"][events["EFlowTrack"].PT > 0.5]
    photons = events["EFlowPhoton"][events["EFlowPhoton"].ET > 1.0]
    neutrals = events["EFlowNeutralHadron"][events["EFlowNeutralHadron"].ET > 1.0]
    return {
        "charged": cone_sums(leptons.Eta, leptons.Phi, tracks.Eta, tracks.Phi, tracks.PT, CONE, SELF_MATCH_DR) / leptons.PT,
        "photon": cone_sums(leptons.Eta, leptons.Phi, photons.Eta, photons.Phi, photons.ET, CONE) / leptons.PT,
        "neutral": cone_sums(leptons.Eta, leptons.Phi, neutrals.Eta, neutrals.Phi, neutrals.ET, CONE) / leptons.PT,
    }


def isolated_lepton_mask(events: dict) -> np.ndarray:
    """Events with at least one electron or tight muon passing the trigger's pT and isolation cuts."""
    passed = np.zeros(len(events["Electron"]), dtype=bool)
    for collection in ("Electron", "MuonTight"):
        leptons = events[collection][events[collection].PT > LEPTON_PT_MIN]
        iso = lepton_isolation(leptons, events)
        passed |= ak.to_numpy(ak.any(iso["charged"] + iso["photon"] + iso["neutral"] < ISOLATION_MAX, axis=1))
    return passed
