"""Vectorized kinematics shared by generation, detector simulation and event selection (awkward/numpy, no loops):
momenta to (pT, eta, phi) and azimuth differences."""

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


def isin(values: ak.Array, choices) -> ak.Array:
    """``np.isin`` for a jagged (events x items) array; numpy's own needs rectangular input."""
    return ak.unflatten(np.isin(ak.to_numpy(ak.flatten(values)), choices), ak.num(values))
