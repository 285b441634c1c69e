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
def cone_sums(key, first, eta, phi, pt, order, q_event, q_key, q_eta, q_phi, own, radius, wrap_phi, out):
    """For each query, the sum of ``pt`` of the objects within ``radius`` in (eta, phi), except the one
    whose ``order`` (index in the map's input order) is the query's ``own``. The objects are sorted by
    ``key`` (event * stride + eta), those of event e at [first[e], first[e + 1]) (none past the end of
    ``first``); each query's candidates are its key window, as in the numpy version
    (``ConeIndex.reference_sums``), searched among its event's objects only (the same window: events'
    keys are further apart than any cone)."""
    two_pi, r2 = 2 * np.pi, radius**2
    for i in range(q_eta.size):
        event = q_event[i]
        begin, end = (first[event], first[event + 1]) if event + 1 < first.size else (0, 0)
        low, high = q_key[i] - radius, q_key[i] + radius
        j, bound = begin, end
        while j < bound:  # the window's first object: a binary search among the event's objects
            middle = (j + bound) >> 1
            if key[middle] < low:
                j = middle + 1
            else:
                bound = middle
        total = 0.0
        while j < end and key[j] <= high:
            dphi = q_phi[i] - phi[j]
            if wrap_phi:  # one step of 2 pi, exact for |dphi| < 3 pi: a modulo took a quarter of the time
                dphi = dphi - two_pi if dphi >= np.pi else (dphi + two_pi if dphi < -np.pi else dphi)
            deta = q_eta[i] - eta[j]
            # Adding 0.0 leaves the sum's bits as they are: a select, not a branch the CPU mispredicts.
            total += pt[j] if (deta * deta + dphi * dphi < r2) & (order[j] != own[i]) else 0.0
            j += 1
        out[i] = total


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
    cone_sums(floats, np.array([0, 1]), floats, floats, floats, integers, integers, floats, floats, floats, integers, 0.3, True, np.empty(1))
    order_within_events(integers, floats)


# Every kernel, for the warm-up's callers and the cache's checks (a dispatcher's ``stats`` counts its
# cache hits and misses).
KERNELS = (cone_sums, order_within_events)
