"""Cone sums: the pT of the objects of a map within dR of each query, over an (event, eta)-sorted index,
as the isolations of the lepton candidates and of the particle rows need. The event path sums in
compiled kernels (``kernels``); this numpy version is their reference, and the generation's."""

from __future__ import annotations

import numpy as np

EVENT_STRIDE = 1000.0
CONE_RADIUS = 0.3  # the study's isolation cone, in dR
TWO_PI = 2 * np.pi


def separable(eta: np.ndarray) -> bool:
    """Whether every eta is finite and within the key's room for one event."""
    return eta.size == 0 or bool(-EVENT_STRIDE / 2 < eta.min() and eta.max() < EVENT_STRIDE / 2)  # NaN compares False


class ConeIndex:
    """Objects of one isolation map sorted by (event, eta), to find those within dR < radius of queries: the
    numpy reference of the compiled kernels' cone sums (``kernels.particle_rows``, ``event_cone_sums``),
    which take the same key windows and add in the same order."""

    def __init__(self, event, eta, phi, pt):
        self.order = np.lexsort((eta, event))
        self.eta, self.phi, self.pt = eta[self.order], phi[self.order], pt[self.order]
        # One sortable key: events are separated by more than any eta range (|eta| < 500).
        self.key = (event * EVENT_STRIDE + eta)[self.order]

    def sums(self, q_event, q_eta, q_phi, radius=CONE_RADIUS, own=None, wrap_phi=True):
        """Sum of pT within ``radius`` (the study's isolation cone by default) of each query, from every
        (query, candidate) pair of the key windows at once. ``own``: index (in the map's input order) of
        an object that is the query itself and must not count, or -1. ``wrap_phi=False`` reproduces the
        original's wrapping at +-2 pi, i.e. none: neighbours across phi = +-pi are missed."""
        low = np.searchsorted(self.key, q_event * EVENT_STRIDE + q_eta - radius, side="left")
        high = np.searchsorted(self.key, q_event * EVENT_STRIDE + q_eta + radius, side="right")
        counts = high - low
        query = np.repeat(np.arange(q_eta.size), counts)
        partner = np.repeat(low - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())
        dphi = q_phi[query] - self.phi[partner]
        if wrap_phi:  # one step of 2 pi, exact for |dphi| < 3 pi, as the kernels wrap
            dphi = dphi - TWO_PI * (dphi >= np.pi) + TWO_PI * (dphi < -np.pi)
        inside = (q_eta[query] - self.eta[partner]) ** 2 + dphi**2 < radius**2
        if own is not None:
            inside &= self.order[partner] != own[query]
        return np.bincount(query[inside], weights=self.pt[partner[inside]], minlength=q_eta.size)
