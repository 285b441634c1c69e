"""Cone sums: the pT of the objects of a map within dR of each query, over an (event, eta)-sorted index,
as the isolation of the particle rows needs for every object of the selected events (and the selection's
numpy reference for its candidates). The sums run in a compiled kernel (``kernels``); the numpy version
stays as its reference."""

from __future__ import annotations

import numpy as np

from . import kernels

EVENT_STRIDE = 1000.0
CONE_RADIUS = 0.3  # the study's isolation cone, in dR
TWO_PI = 2 * np.pi


def separable(eta: np.ndarray) -> bool:
    """Whether every eta is finite and within the key's room for one event."""
    return bool(np.all(np.abs(eta) < EVENT_STRIDE / 2))


class ConeIndex:
    """Objects of one isolation map sorted by (event, eta), to find those within dR < radius of queries.
    ``compiled``: cone sums with the compiled kernel (the default) or with the numpy reference."""

    def __init__(self, event, eta, phi, pt, compiled: bool = True):
        self.order = kernels.lexsort_within_events(eta, event) if compiled else np.lexsort((eta, event))
        self.eta, self.phi, self.pt = eta[self.order], phi[self.order], pt[self.order]
        # One sortable key: events are separated by more than any eta range (|eta| < 500).
        self.key = (event * EVENT_STRIDE + eta)[self.order]
        # The kernel's sweep needs keys that keep events apart (finite |eta| < 500, queries too); the
        # event path drops events with non-finite inputs first. Other inputs take the numpy reference.
        self.compiled = compiled and separable(eta)

    def key_order(self, objects: np.ndarray) -> np.ndarray:
        """For queries that are this index's own ``objects`` (indices in its input order, each once): the
        order of the queries by key, from the index's sort instead of a sort of their own."""
        query = np.full(self.order.size, -1)
        query[objects] = np.arange(objects.size)
        query = query[self.order]
        return query[query >= 0]

    def sums(self, q_event, q_eta, q_phi, radius=CONE_RADIUS, own=None, wrap_phi=True, q_order=None):
        """Sum of pT within ``radius`` (the study's isolation cone by default) of each query. ``own``: index
        (in the map's input order) of an object that is the query itself and must not count, or -1.
        ``wrap_phi=False`` reproduces the original's wrapping at +-2 pi, i.e. none: neighbours across
        phi = +-pi are missed. ``q_order``: the queries by (event, eta), where the caller knows it
        (``key_order``); sorted here otherwise."""
        if not (self.compiled and separable(q_eta)):
            return self.reference_sums(q_event, q_eta, q_phi, radius, own, wrap_phi)
        q_eta, q_phi = (np.ascontiguousarray(values, dtype=np.float64) for values in (q_eta, q_phi))
        q_event = np.ascontiguousarray(q_event, dtype=np.int64)
        own = np.full(q_eta.size, -1, dtype=np.int64) if own is None else np.ascontiguousarray(own, dtype=np.int64)
        if q_order is None:
            q_order = kernels.lexsort_within_events(q_eta, q_event)
        if q_order.size != q_eta.size:
            raise ValueError(f"q_order has {q_order.size} entries for {q_eta.size} queries")
        out = np.empty(q_eta.size)
        q_key = q_event * EVENT_STRIDE + q_eta
        kernels.cone_sums(self.key, self.eta, self.phi, self.pt, self.order, q_order, q_key, q_eta, q_phi, own, float(radius), bool(wrap_phi), out)
        return out

    def reference_sums(self, q_event, q_eta, q_phi, radius=CONE_RADIUS, own=None, wrap_phi=True):
        """``sums`` in numpy: every (query, candidate) pair of the key windows at once."""
        low = np.searchsorted(self.key, q_event * EVENT_STRIDE + q_eta - radius, side="left")
        high = np.searchsorted(self.key, q_event * EVENT_STRIDE + q_eta + radius, side="right")
        counts = high - low
        query = np.repeat(np.arange(q_eta.size), counts)
        partner = np.repeat(low - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())
        dphi = q_phi[query] - self.phi[partner]
        if wrap_phi:  # as the kernel wraps: one step of 2 pi, exact for |dphi| < 3 pi
            dphi = dphi - TWO_PI * (dphi >= np.pi) + TWO_PI * (dphi < -np.pi)
        inside = (q_eta[query] - self.eta[partner]) ** 2 + dphi**2 < radius**2
        if own is not None:
            inside &= self.order[partner] != own[query]
        return np.bincount(query[inside], weights=self.pt[partner[inside]], minlength=q_eta.size)
