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
def event_cone_sums(first, eta, phi, pt, pt_min, q_event, q_eta, q_phi, own, radius, stride, wrap_phi, out):
    """Cone sums for a few queries per event (the lepton candidates), without sorting every event's
    objects for them: each query scans the objects of its own event (``first``: each event's first
    object, and the end) with ``pt`` above ``pt_min``, keeps those in its key window (``stride``: the
    key of ``particle_rows`` and of ``cones.ConeIndex``) and its cone but ``own`` (an object's position,
    or -1), and adds them in the cone index's order, eta then position: the same sums, bit for bit."""
    two_pi, r2 = 2 * np.pi, radius**2
    largest = 0
    for e in range(first.size - 1):
        largest = max(largest, first[e + 1] - first[e])
    hits_at = np.empty(largest, dtype=np.int64)
    for i in range(q_eta.size):
        e, query_eta, query_phi, query_own = q_event[i], q_eta[i], q_phi[i], own[i]  # locals: see particle_rows
        q_key = e * stride + query_eta
        low, high = q_key - radius, q_key + radius
        # Every object tested without a branch (most fail, unpredictably), the hits compacted in position
        # order, then put in eta order by an insertion sort (stable: equal etas stay in position order).
        hits = 0
        for j in range(first[e], first[e + 1]):
            key = e * stride + eta[j]
            dphi = query_phi - phi[j]
            if wrap_phi:
                dphi = dphi - two_pi * (dphi >= np.pi) + two_pi * (dphi < -np.pi)
            deta = query_eta - eta[j]
            hits_at[hits] = j
            hits += (pt[j] > pt_min) & (key >= low) & (key <= high) & (j != query_own) & (deta * deta + dphi * dphi < r2)
        for k in range(1, hits):
            j, m = hits_at[k], k
            while m > 0 and eta[hits_at[m - 1]] > eta[j]:
                hits_at[m] = hits_at[m - 1]
                m -= 1
            hits_at[m] = j
        total = 0.0
        for k in range(hits):
            total += pt[hits_at[k]]
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
def particle_rows(
    events,
    bounds,
    pt,
    eta,
    phi,
    thresholds,
    caps,
    vertex,
    charge,
    charge_is_pid,
    lepton,
    match_dr2,
    exclude_own,
    minus_one,
    wrap_phi,
    radius,
    stride,
    out,
    momenta,
    n_rows,
):
    """The particle rows of the ``events`` (numbers in the batch), all but their (E, px, py, pz), event by
    event: ``observables._particles`` with its three isolation maps, its cone indices and its fill in one
    pass. The maps are (tracks, photons, neutral hadrons): for each, ``bounds`` (its events' first
    object, then the end), ``pt``, ``eta``, ``phi`` as read, the map's ``thresholds`` and the rows'
    ``caps``; ``vertex`` (x, y, z) and ``charge`` (the PID's sign if ``charge_is_pid``) of the tracks;
    ``lepton`` (pT, eta, phi, the three isolations, charge, is-electron) per event. An event's rows are
    its lepton, then its tracks but the lepton's own (dR^2 <= ``match_dr2``), photons and neutral
    hadrons, each group in collection order up to its cap. Each row's isolations are its map's cone sums
    as the numpy reference (``cones.ConeIndex``) takes them: the map's objects sorted by (eta,
    position), one key per object (event * ``stride`` + eta), the key window, then dR < ``radius``,
    added in order; its own object left out (``exclude_own``) or counted, with 1 subtracted from the
    ratio (``minus_one``). Writes ``out``'s columns from pT on, (pT, eta, phi) in float64 to ``momenta``
    (3, rows), the rows of each event to ``n_rows``; returns the number of rows."""
    two_pi, r2 = 2 * np.pi, radius**2
    largest = 1
    for e in events:
        for m in range(3):
            largest = max(largest, bounds[m][e + 1] - bounds[m][e])
    # Each map of the event sorted by (eta, position): key, eta, phi, pT, position as read.
    key, s_eta, s_phi, s_pt = np.empty((3, largest)), np.empty((3, largest)), np.empty((3, largest)), np.empty((3, largest))
    s_position, size = np.empty((3, largest), dtype=np.int64), np.zeros(3, dtype=np.int64)
    rank = np.empty((3, largest), dtype=np.int64)  # per object as read: its row in its group, or -1
    rows_of = np.zeros(3, dtype=np.int64)
    unsorted_eta, unsorted_position, inside = np.empty(largest), np.empty(largest, dtype=np.int64), np.empty(largest)
    onehot = (13, 15, 14)  # charged hadron, photon, neutral hadron
    total = 0
    for s in range(events.size):
        e = events[s]
        lepton_eta, lepton_phi = lepton[s, 1], lepton[s, 2]
        for m in range(3):
            first, found, rows = bounds[m][e], 0, 0
            for j in range(first, bounds[m][e + 1]):
                rank[m, j - first] = -1
                if not pt[m][j] > thresholds[m]:
                    continue
                unsorted_eta[found], unsorted_position[found] = eta[m][j], j
                found += 1
                if rows < caps[m]:
                    if m == 0:  # a track at the lepton's (eta, phi) is the lepton's own: no row
                        dphi = (np.float64(phi[m][j]) - lepton_phi + np.pi) % two_pi - np.pi
                        deta = np.float64(eta[m][j]) - lepton_eta
                        if not deta * deta + dphi * dphi > match_dr2:
                            continue
                    rank[m, j - first] = rows
                    rows += 1
            order = np.argsort(unsorted_eta[:found], kind="mergesort")  # stable: ties in position order
            for i in range(found):
                j = unsorted_position[order[i]]
                s_eta[m, i], s_phi[m, i], s_pt[m, i], s_position[m, i] = eta[m][j], phi[m][j], pt[m][j], j
                key[m, i] = e * stride + s_eta[m, i]
            size[m], rows_of[m] = found, rows
        first_row = total
        n_rows[s] = 1 + rows_of[0] + rows_of[1] + rows_of[2]
        total += n_rows[s]
        line = out[first_row]
        line[4:] = 0.0
        line[4], line[5], line[6] = lepton[s, 0], lepton_eta, lepton_phi
        line[10], line[11], line[12] = lepton[s, 3], lepton[s, 4], lepton[s, 5]
        line[17 - int(lepton[s, 7])] = 1.0  # electron 16, muon 17
        line[18] = lepton[s, 6]
        momenta[0, first_row], momenta[1, first_row], momenta[2, first_row] = lepton[s, 0], lepton_eta, lepton_phi
        group_row = first_row + 1
        for g in range(3):
            g_first = bounds[g][e]
            # Map by map, the cone sums of the group's rows in its key order: the map's window only moves
            # forward, and its ends and arrays stay in registers (a row's stores could alias them).
            for m in range(3):
                m_key, m_eta, m_phi, m_pt, m_position, m_size = key[m], s_eta[m], s_phi[m], s_pt[m], s_position[m], size[m]
                low_at, high_at = 0, 0
                own_in_map, minus = exclude_own and m == g, 1.0 if minus_one and m == g else 0.0
                for i in range(size[g]):
                    j = s_position[g, i]
                    row = rank[g, j - g_first]
                    if row < 0:
                        continue
                    q_key, q_eta, q_phi = key[g, i], s_eta[g, i], s_phi[g, i]
                    low, high = q_key - radius, q_key + radius
                    while low_at < m_size and m_key[low_at] < low:
                        low_at += 1
                    high_at = max(high_at, low_at)
                    while high_at < m_size and m_key[high_at] <= high:
                        high_at += 1
                    own = j if own_in_map else -1
                    # The window's objects inside the cone are compacted without a branch (which the CPU
                    # would mispredict), then added in order: the chain of dependent additions is as long
                    # as the objects inside, not the window, and the sum's bits are the same.
                    hits = 0
                    for k in range(low_at, high_at):
                        dphi = q_phi - m_phi[k]
                        if wrap_phi:
                            dphi = dphi - two_pi * (dphi >= np.pi) + two_pi * (dphi < -np.pi)
                        deta = q_eta - m_eta[k]
                        inside[hits] = m_pt[k]
                        hits += (deta * deta + dphi * dphi < r2) & (m_position[k] != own)
                    sum_pt = 0.0
                    for k in range(hits):
                        sum_pt += inside[k]
                    out[group_row + row, 10 + m] = sum_pt / s_pt[g, i] - minus
            for i in range(size[g]):
                j = s_position[g, i]
                row = rank[g, j - g_first]
                if row < 0:
                    continue
                row += group_row
                line = out[row]
                line[4], line[5], line[6] = s_pt[g, i], s_eta[g, i], s_phi[g, i]
                momenta[0, row], momenta[1, row], momenta[2, row] = s_pt[g, i], s_eta[g, i], s_phi[g, i]
                line[13:18] = 0.0
                line[onehot[g]] = 1.0
                if g == 0:
                    line[7], line[8], line[9] = vertex[0][j], vertex[1][j], vertex[2][j]
                    line[18] = np.sign(charge[j]) if charge_is_pid else charge[j]
                else:
                    line[7:10] = 0.0
                    line[18] = 0.0
            group_row += rows_of[g]
    return total


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
    order_within_events(integers, floats)
    first, read = np.zeros(2, dtype=np.int64), np.zeros(1, dtype=np.float32)  # the collections as read
    event_cone_sums(first, read, read, read, 0.5, integers, floats, floats, integers, 0.3, 1000.0, True, np.empty(1))
    own_objects(first, read, read, read, 0.5, integers, floats, floats, 1e-4, 1e-8, 1000.0, integers.copy())
    three = (first,) * 3, (read,) * 3, (read,) * 3, (read,) * 3
    particle_rows(
        integers, *three, (0.5, 1.0, 1.0), (450, 150, 200), (read,) * 3, np.zeros(1, dtype=np.int32), True, np.zeros((1, 8)),
        1e-8, True, False, True, 0.3, 1000.0, np.empty((2, 19), dtype=np.float32), np.empty((3, 2)), np.empty(1, dtype=np.int32),
    )  # fmt: skip


# Every kernel, for the warm-up's callers and the cache's checks (a dispatcher's ``stats`` counts its
# cache hits and misses).
KERNELS = (event_cone_sums, own_objects, order_within_events, particle_rows)
