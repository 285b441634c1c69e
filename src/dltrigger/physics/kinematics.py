"""Vectorized kinematics shared by generation, detector simulation and event selection (awkward/numpy, no loops):
momenta to (pT, eta, phi), azimuth differences, and cone sums over an eta-sorted index per event."""

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


EVENT_STRIDE = 1000.0


class ConeIndex:
    """Objects of one isolation map sorted by (event, eta), to find those within dR < radius of queries."""

    def __init__(self, event, eta, phi, pt):
        self.order = np.lexsort((eta, event))
        self.event, self.eta, self.phi, self.pt = event[self.order], eta[self.order], phi[self.order], pt[self.order]
        # One sortable key: events are separated by more than any eta range (|eta| < 500).
        self.key = self.event * EVENT_STRIDE + self.eta

    def sums(self, q_event, q_eta, q_phi, radius=0.3, own=None, wrap_phi=True):
        """Sum of pT within ``radius`` (the study's isolation cone by default) of each query. ``own``: index (in the map's input order) of an object
        that is the query itself and must not count, or -1. ``wrap_phi=False`` reproduces the original's
        wrapping at +-2 pi, i.e. none: neighbours across phi = +-pi are missed."""
        low = np.searchsorted(self.key, q_event * EVENT_STRIDE + q_eta - radius, side="left")
        high = np.searchsorted(self.key, q_event * EVENT_STRIDE + q_eta + radius, side="right")
        counts = high - low
        query = np.repeat(np.arange(q_eta.size), counts)
        partner = np.repeat(low - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())
        dphi = delta_phi(q_phi[query], self.phi[partner]) if wrap_phi else q_phi[query] - self.phi[partner]
        inside = (q_eta[query] - self.eta[partner]) ** 2 + dphi**2 < radius**2
        if own is not None:
            inside &= self.order[partner] != own[query]
        return np.bincount(query[inside], weights=self.pt[partner[inside]], minlength=q_eta.size)
