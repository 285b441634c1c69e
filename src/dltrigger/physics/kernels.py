"""Compiled kernels of the event path (numba), beside the numpy code they replace where it is the hot spot.

Each kernel does the arithmetic of its numpy counterpart in the same order, so the results are
identical, not just close: the same expressions in IEEE double precision (no fast-math, no fused
multiply-add), sums accumulated in the order ``np.bincount`` accumulates them. The numpy versions stay
as the reference the tests compare with.

Compiled once per machine: ``cache=True`` writes the machine code next to this file (or, where that is
read-only, under numba's user cache; ``NUMBA_CACHE_DIR`` overrides both), and every later process (Spark
Python workers, stream executors) loads it instead of compiling (``warm_up``).
"""

from __future__ import annotations

import numba
import numpy as np

COMPILE = {"cache": True, "nogil": True, "error_model": "numpy"}


@numba.njit(**COMPILE)
def cone_sums(key, eta, phi, pt, order, q_order, q_key, q_eta, q_phi, own, radius, wrap_phi, out):
    """For each query, the sum of ``pt`` of the objects within ``radius`` in (eta, phi), except the one
    whose ``order`` (index in the map's input order) is the query's ``own``. The objects are sorted by
    ``key`` (event * stride + eta, with every eta, the queries' too, finite and within half the stride:
    ``ConeIndex`` checks); each query's candidates are its key window, in key order, as in the
    numpy version (``ConeIndex.reference_sums``). The queries are taken in the order ``q_order``, in which
    their keys do not decrease, so the window's ends only move forward: no search per query."""
    two_pi, r2 = 2 * np.pi, radius**2
    inside = np.empty(key.size)  # a window's hits at most; only the pages used are ever touched
    start = stop = 0
    for i in q_order:
        low, high = q_key[i] - radius, q_key[i] + radius
        while start < key.size and key[start] < low:
            start += 1
        stop = max(stop, start)
        while stop < key.size and key[stop] <= high:
            stop += 1
        # The query in locals: the stores below could alias its arrays, which would reload it per object.
        query_eta, query_phi, query_own = q_eta[i], q_phi[i], own[i]
        # The window's objects inside the cone are compacted without a branch (which the CPU would
        # mispredict), then added in order: the chain of dependent additions is as long as the objects
        # inside, not the window (14-20 % less time per query), and the sum's bits are the same.
        hits = 0
        for j in range(start, stop):
            dphi = query_phi - phi[j]
            if wrap_phi:  # one step of 2 pi, exact for |dphi| < 3 pi, as arithmetic, not a branch
                dphi = dphi - two_pi * (dphi >= np.pi) + two_pi * (dphi < -np.pi)
            deta = query_eta - eta[j]
            inside[hits] = pt[j]
            hits += (deta * deta + dphi * dphi < r2) & (order[j] != query_own)
        total = 0.0
        for k in range(hits):
            total += inside[k]
        out[i] = total


@numba.njit(**COMPILE)
def event_cone_sums(first, eta, phi, pt, pt_min, q_event, q_eta, q_phi, own, radius, stride, wrap_phi, out):
    """``cone_sums`` without an index, for a few queries per event (the lepton candidates): each query
    scans the objects of its own event (``first``: each event's first object, and the end) with ``pt``
    above ``pt_min``, keeps those in its key window (``stride``: the index's key) and its cone but
    ``own`` (an object's position, or -1), and adds them in the index's order, eta then position: the
    same sums as ``cone_sums`` over an index of the objects above ``pt_min``, bit for bit, without
    sorting every event's objects for a handful of queries."""
    two_pi, r2 = 2 * np.pi, radius**2
    largest = 0
    for e in range(first.size - 1):
        largest = max(largest, first[e + 1] - first[e])
    hit_eta, hit_pt = np.empty(largest), np.empty(largest)
    for i in range(q_eta.size):
        e, query_eta, query_phi, query_own = q_event[i], q_eta[i], q_phi[i], own[i]  # locals: see cone_sums
        q_key = e * stride + query_eta
        low, high = q_key - radius, q_key + radius
        hits = 0
        for j in range(first[e], first[e + 1]):
            key = e * stride + eta[j]
            if not (pt[j] > pt_min and key >= low and key <= high and j != query_own):
                continue
            dphi = query_phi - phi[j]
            if wrap_phi:
                dphi = dphi - two_pi * (dphi >= np.pi) + two_pi * (dphi < -np.pi)
            deta = query_eta - eta[j]
            if deta * deta + dphi * dphi < r2:
                k = hits  # insertion in eta order, after equal etas: the index's stable sort
                while k > 0 and hit_eta[k - 1] > eta[j]:
                    hit_eta[k], hit_pt[k] = hit_eta[k - 1], hit_pt[k - 1]
                    k -= 1
                hit_eta[k], hit_pt[k] = eta[j], pt[j]
                hits += 1
        total = 0.0
        for k in range(hits):
            total += hit_pt[k]
        out[i] = total


@numba.njit(**COMPILE)
def own_objects(first, eta, phi, pt, pt_min, q_event, q_eta, q_phi, match_dr, match_dr2, stride, out):
    """For each query, the object of its event with ``pt`` above ``pt_min`` within ``match_dr`` of it
    (its key window, then dR^2 < ``match_dr2``), the first in the index's order (eta, then position), or
    -1; phi differences wrapped as ``kinematics.delta_phi`` does: ``selection.own_track_index`` without
    an index."""
    for i in range(q_eta.size):
        e = q_event[i]
        q_key = e * stride + q_eta[i]
        low, high = q_key - match_dr, q_key + match_dr
        best = -1
        for j in range(first[e], first[e + 1]):
            key = e * stride + eta[j]
            if not (pt[j] > pt_min and key >= low and key <= high):
                continue
            dphi = (q_phi[i] - phi[j] + np.pi) % (2 * np.pi) - np.pi
            deta = q_eta[i] - eta[j]
            if deta * deta + dphi * dphi < match_dr2 and (best < 0 or eta[j] < eta[best]):
                best = j
        out[i] = best


@numba.njit(**COMPILE)
def order_within_events(event, values):
    """``np.lexsort((values, event))`` for objects already grouped by event (``event`` non-decreasing): a
    stable sort of each event's values, much shorter than one sort of the whole batch."""
    n = event.size
    order = np.empty(n, dtype=np.int64)
    start = 0
    while start < n:
        stop = start + 1
        while stop < n and event[stop] == event[start]:
            stop += 1
        order[start:stop] = start + np.argsort(values[start:stop], kind="mergesort")
        start = stop
    return order


@numba.njit(**COMPILE)
def fill_rows(out, row, columns, targets, onehot):
    """Rows ``row`` of ``out`` set to zero but ``columns[k]`` at column ``targets[k]`` and 1 at column
    ``onehot``: numpy's version builds the rows in a temporary array and scatters them (~3x this loop)."""
    for i in range(row.size):
        line = out[row[i]]
        line[:] = 0.0
        for k in range(len(columns)):
            line[targets[k]] = columns[k][i]
        line[onehot[i]] = 1.0


def lexsort_within_events(values: np.ndarray, event: np.ndarray) -> np.ndarray:
    """``np.lexsort((values, event))``, with the compiled per-event sort where the objects are grouped by
    event (the same order: both sorts are stable)."""
    if event.size and np.all(event[1:] >= event[:-1]):
        return order_within_events(np.ascontiguousarray(event, dtype=np.int64), np.ascontiguousarray(values, dtype=np.float64))
    return np.lexsort((values, event))


def warm_up() -> None:
    """Load (or, on a machine's first call, compile) every kernel for the types the event path uses, so
    that no event's latency includes it."""
    floats, integers = np.zeros(1), np.zeros(1, dtype=np.int64)
    cone_sums(floats, floats, floats, floats, integers, integers, floats, floats, floats, integers, 0.3, True, np.empty(1))
    order_within_events(integers, floats)
    fill_rows(np.zeros((1, 19), dtype=np.float32), integers, (floats,) * 14, np.arange(14), integers)
    first, read = np.zeros(2, dtype=np.int64), np.zeros(1, dtype=np.float32)  # the collections as read
    event_cone_sums(first, read, read, read, 0.5, integers, floats, floats, integers, 0.3, 1000.0, True, np.empty(1))
    own_objects(first, read, read, read, 0.5, integers, floats, floats, 1e-4, 1e-8, 1000.0, integers.copy())


# Every kernel, for the warm-up's callers and the cache's checks (a dispatcher's ``stats`` counts its
# cache hits and misses).
KERNELS = (cone_sums, event_cone_sums, own_objects, order_within_events, fill_rows)
