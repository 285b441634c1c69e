"""The isolated-lepton selection on hand-made events with known answers."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest

from dltrigger.physics.cones import ConeIndex
from dltrigger.physics.quirks import CORRECTED, ORIGINAL
from dltrigger.physics.selection import IsolationMaps, isolated_lepton_mask, select_lepton


def events_of(electrons, muons, tracks, photons=None, neutrals=None):
    def collection(rows, fields):
        return ak.zip(
            {field: ak.values_astype(ak.Array([[values[k] for values in row] for row in rows]), np.float32) for k, field in enumerate(fields)}
        )

    n = len(electrons)
    return {
        "Electron": collection(electrons, ("PT", "Eta", "Phi", "Charge")),
        "MuonTight": collection(muons, ("PT", "Eta", "Phi", "Charge")),
        "EFlowTrack": collection(tracks, ("PT", "Eta", "Phi")),
        "EFlowPhoton": collection(photons or [[]] * n, ("ET", "Eta", "Phi")),
        "EFlowNeutralHadron": collection(neutrals or [[]] * n, ("ET", "Eta", "Phi")),
    }


def test_isolation_sums_and_the_lepton_own_track_is_excluded():
    events = events_of(
        electrons=[[(40.0, 0.5, 1.0, -1)]],
        muons=[[]],
        tracks=[[(40.0, 0.5, 1.0), (4.0, 0.6, 1.1), (10.0, 0.5, 1.5), (0.4, 0.5, 1.05)]],
        photons=[[(2.0, 0.4, 0.9)]],
        neutrals=[[(8.0, 0.5, 1.0 + 2 * np.pi - 0.1)]],  # across the phi boundary: dphi = -0.1
    )
    maps = IsolationMaps.of(events)
    lepton = select_lepton(events, maps, maps.indices(), quirks=CORRECTED)
    assert lepton["found"].tolist() == [True]
    assert lepton["iso_charged"][0] == pytest.approx(4.0 / 40.0)  # own track, the far and the soft track left out
    assert lepton["iso_photon"][0] == pytest.approx(2.0 / 40.0)
    assert lepton["iso_neutral"][0] == pytest.approx(8.0 / 40.0)  # found across phi = +-pi
    assert lepton["own"][0] == 0
    # The original: charged ratio minus one, and no phi wrapping (the neutral hadron is missed).
    original = select_lepton(events, maps, maps.indices(), quirks=ORIGINAL)
    assert original["iso_charged"][0] == pytest.approx((40.0 + 4.0) / 40.0 - 1.0)
    assert original["iso_neutral"][0] == 0.0


def test_selection_thresholds():
    events = events_of(
        electrons=[[(30.0, 0.0, 0.0, 1)], [(22.0, 0.0, 0.0, 1)], [], [(30.0, 0.0, 0.0, 1)]],
        muons=[[], [], [(50.0, 1.0, 2.0, -1)], []],
        tracks=[[], [], [(30.0, 1.1, 2.0)], [(13.0, 0.1, 0.1)]],  # event 2: muon with 0.6 iso; event 3: 0.43
    )
    assert isolated_lepton_mask(events).tolist() == [True, False, False, True]


def test_compiled_cone_sums_equal_the_numpy_reference_for_any_query_order():
    """The kernel sweeps the queries in key order (given, or sorted here): for queries in any order, of
    events the map lacks and with phi beyond +-pi, its sums are the reference's, bit for bit, in both phi
    conventions, with and without an excluded own object. Queries its keys cannot hold (non-finite, or
    |eta| >= 500) take the reference; a query order of the wrong length is refused."""
    rng = np.random.default_rng(7)
    n_map, n_query = 4000, 3000
    event = np.sort(rng.integers(0, 50, n_map))
    eta, phi, pt = rng.uniform(-2.5, 2.5, n_map), rng.uniform(-np.pi, np.pi, n_map), rng.exponential(2.0, n_map)
    compiled, reference = (ConeIndex(event, eta, phi, pt, compiled=flag) for flag in (True, False))
    q_event = rng.integers(0, 55, n_query)  # unsorted, and events 50-54 have no objects
    q_eta, q_phi = rng.uniform(-2.8, 2.8, n_query), rng.uniform(-4.0, 4.0, n_query)
    own = np.where(rng.random(n_query) < 0.5, rng.integers(0, n_map, n_query), -1)
    for wrap_phi in (True, False):
        for excluded in (None, own):
            expected = reference.sums(q_event, q_eta, q_phi, own=excluded, wrap_phi=wrap_phi)
            assert (expected > 0).mean() > 0.3
            assert compiled.sums(q_event, q_eta, q_phi, own=excluded, wrap_phi=wrap_phi).tobytes() == expected.tobytes()
    # Queries that are the map's own objects, in the order its sort gives them.
    objects = np.flatnonzero(rng.random(n_map) < 0.3)
    order = compiled.key_order(objects)
    assert np.all(np.diff((event * 1000.0 + eta)[objects][order]) >= 0)
    q = (event[objects], eta[objects], phi[objects])
    assert compiled.sums(*q, own=objects, q_order=order).tobytes() == reference.sums(*q, own=objects).tobytes()
    with pytest.raises(ValueError, match="q_order has 2 entries for 3 queries"):
        compiled.sums(*(values[:3] for values in q), q_order=order[:2])
    # Outside the keys' room: NaN and infinite eta and phi sum to nothing; eta = 1500 of event 0 must not
    # reach event 1's objects at eta 0.
    strange_eta, strange_phi = np.array([np.nan, np.inf, -np.inf, 0.0, 0.0, 1500.0]), np.array([0.0, 0.0, 0.0, np.nan, np.inf, 0.0])
    strange = compiled.sums(np.zeros(6, dtype=np.int64), strange_eta, strange_phi)
    assert strange.tolist() == [0.0] * 6
    two_events = ConeIndex(np.array([0, 1]), np.array([0.0, 0.0]), np.array([0.0, 0.0]), np.array([1.0, 1.0]))
    assert two_events.sums(np.array([0, 1]), np.array([1500.0, 0.0]), np.zeros(2)).tolist() == [0.0, 1.0]
