"""Vectorized kinematics shared by generation, detector simulation and event selection (awkward/numpy, no loops)."""

from __future__ import annotations

import awkward as ak
import numpy as np


def pt_eta_phi(px, py, pz):
    """Transverse momentum, pseudorapidity and azimuth of momenta (numpy or awkward, any nesting)."""
    pt = np.hypot(px, py)
    # arcsinh(pz/pt) is the pseudorapidity; a particle along the beam gets a large finite |eta|.
    eta = np.arcsinh(pz / np.maximum(pt, 1e-12))
    phi = np.arctan2(py, px)
    return pt, eta, phi


def delta_phi(phi1, phi2):
    """phi1 - phi2 wrapped into [-pi, pi)."""
    return (phi1 - phi2 + np.pi) % (2 * np.pi) - np.pi


def cone_sums(cand_eta, cand_phi, other_eta, other_phi, other_pt, radius, exclude_self_dr=0.0):
    """For each candidate of each event, the scalar sum of ``other_pt`` within ``radius`` of it.

    All inputs are jagged per event (candidates and others have their own multiplicities). Others closer
    than ``exclude_self_dr`` are skipped, so a candidate present among the others does not count itself.
    """
    pairs = ak.cartesian(
        {
            "c": ak.zip({"eta": cand_eta, "phi": cand_phi}),
            "o": ak.zip({"eta": other_eta, "phi": other_phi, "pt": other_pt}),
        },
        nested=True,
    )
    dr2 = (pairs.c.eta - pairs.o.eta) ** 2 + delta_phi(pairs.c.phi, pairs.o.phi) ** 2
    inside = (dr2 < radius**2) & (dr2 >= exclude_self_dr**2)
    return ak.sum(ak.where(inside, pairs.o.pt, 0.0), axis=-1)



def isin(values: ak.Array, choices) -> ak.Array:
    """``np.isin`` for a jagged (events x items) array; numpy's own needs rectangular input."""
    return ak.unflatten(np.isin(ak.to_numpy(ak.flatten(values)), choices), ak.num(values))
