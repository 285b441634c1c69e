"""The isolated-lepton selection on hand-made events with known answers."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest

from dltrigger.physics.cones import ConeIndex
from dltrigger.physics.quirks import CORRECTED, ORIGINAL
from dltrigger.physics.selection import isolated_lepton_mask, select_lepton


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
    lepton = select_lepton(events, CORRECTED)
    assert lepton["found"].tolist() == [True]
    assert lepton["iso_charged"][0] == pytest.approx(4.0 / 40.0)  # own track, the far and the soft track left out
    assert lepton["iso_photon"][0] == pytest.approx(2.0 / 40.0)
    assert lepton["iso_neutral"][0] == pytest.approx(8.0 / 40.0)  # found across phi = +-pi
    assert lepton["own"][0] == 0
    # The original: charged ratio minus one, and no phi wrapping (the neutral hadron is missed).
    original = select_lepton(events, ORIGINAL)
    assert original["iso_charged"][0] == pytest.approx((40.0 + 4.0) / 40.0 - 1.0)
    assert original["iso_neutral"][0] == 0.0


def test_selection_thresholds():
    events = events_of(
        electrons=[[(30.0, 0.0, 0.0, 1)], [(22.0, 0.0, 0.0, 1)], [], [(30.0, 0.0, 0.0, 1)]],
        muons=[[], [], [(50.0, 1.0, 2.0, -1)], []],
        tracks=[[], [], [(30.0, 1.1, 2.0)], [(13.0, 0.1, 0.1)]],  # event 2: muon with 0.6 iso; event 3: 0.43
    )
    assert isolated_lepton_mask(events).tolist() == [True, False, False, True]


def random_events(rng, n: int) -> dict:
    """``n`` events of random objects, float32 as read: lepton candidates, tracks (the first of an event
    at its first electron's (eta, phi): that electron's own track), photons and neutral hadrons around the
    maps' thresholds, eta in steps of 0.01 (objects at equal eta), phi beyond +-pi."""

    def collection(mean, fields):
        counts = rng.poisson(mean, n)
        size = int(counts.sum())
        values = {name: make(size).astype(np.float32) for name, make in fields.items()}
        return counts, values

    # Dense enough for several objects in most cones: the order of the sums matters only from three on.
    kinematics = {"Eta": lambda k: np.round(rng.uniform(-1.0, 1.0, k), 2), "Phi": lambda k: rng.uniform(-3.3, 3.3, k)}
    charge = {"Charge": lambda k: rng.choice([-1.0, 1.0], k)}
    electrons = collection(0.8, {"PT": lambda k: rng.uniform(15.0, 80.0, k), **kinematics, **charge})
    muons = collection(0.8, {"PT": lambda k: rng.uniform(15.0, 80.0, k), **kinematics, **charge})
    tracks = collection(300, {"PT": lambda k: rng.exponential(0.8, k), **kinematics})
    photons = collection(100, {"ET": lambda k: rng.exponential(0.8, k), **kinematics})
    neutrals = collection(50, {"ET": lambda k: rng.exponential(0.8, k), **kinematics})
    track_first = np.cumsum(tracks[0]) - tracks[0]
    electron_first = np.cumsum(electrons[0]) - electrons[0]
    both = (tracks[0] > 0) & (electrons[0] > 0)
    for name in ("Eta", "Phi"):
        tracks[1][name][track_first[both]] = electrons[1][name][electron_first[both]]
    tracks[1]["PT"][track_first[both]] = 30.0
    return {
        name: ak.zip({field: ak.unflatten(values, counts) for field, values in fields.items()})
        for name, (counts, fields) in {
            "Electron": electrons,
            "MuonTight": muons,
            "EFlowTrack": tracks,
            "EFlowPhoton": photons,
            "EFlowNeutralHadron": neutrals,
        }.items()
    }


@pytest.mark.parametrize("quirks", [CORRECTED, ORIGINAL])
def test_candidates_scanning_their_own_event_select_as_the_cone_indices_do(quirks):
    """The compiled selection scans each lepton candidate's own event instead of sorting every event's
    objects into cone indices: its isolations, own tracks and chosen leptons are the numpy reference's, bit
    for bit, with objects at equal eta (whose order in an index is their position, and so the order of
    the sums), objects below the maps' thresholds, own tracks and phi beyond +-pi. An |eta| >= 500 in a
    map takes the reference."""
    rng = np.random.default_rng(11)
    events = random_events(rng, 400)
    compiled, reference = select_lepton(events, quirks), select_lepton(events, quirks, compiled=False)
    assert compiled.keys() == reference.keys()
    for name, values in reference.items():
        assert compiled[name].tobytes() == values.tobytes(), name
    assert 0.2 < reference["found"].mean() < 0.9
    if not quirks.isolation_minus_one:
        assert (reference["own"] >= 0).sum() > 20
    events["EFlowPhoton"] = ak.zip({"ET": [[5.0]] * 400, "Eta": [[600.0]] + [[0.0]] * 399, "Phi": [[0.0]] * 400})
    assert select_lepton(events, quirks)["found"].tolist() == select_lepton(events, quirks, compiled=False)["found"].tolist()
    # Sums of float32 values in float64 are exact unless the values span ~9 orders of magnitude: then
    # their order shows, and at equal eta it is the objects' position.
    tied = events_of(electrons=[[(1e18, 0.0, 0.0, 1)]], muons=[[]], tracks=[[]], photons=[[(1.5, 0.1, 0.0), (1e16, 0.1, 0.05), (3.0, 0.1, 0.1)]])
    expected = ((1.5 + float(np.float32(1e16))) + 3.0) / float(np.float32(1e18))
    assert select_lepton(tied, quirks)["iso_photon"].tolist() == select_lepton(tied, quirks, compiled=False)["iso_photon"].tolist() == [expected]


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
