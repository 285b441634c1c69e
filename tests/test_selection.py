"""The isolated-lepton selection on hand-made events with known answers, and the compiled kernels of the
selection and the particle rows against their numpy reference."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest

from dltrigger.core.arrays import event_starts
from dltrigger.core.schema import MAX_NEUTRALS, MAX_PHOTONS, MAX_TRACKS
from dltrigger.physics import kernels, observables
from dltrigger.physics.cones import ConeIndex, separable
from dltrigger.physics.quirks import CORRECTED, ORIGINAL
from dltrigger.physics.selection import Flat, isolated_lepton_mask, select_lepton

from helpers import TRACK, delphes_file


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


def random_events(rng, n: int, tracks: float = 300, photons: float = 100, neutrals: float = 50, eta_max: float = 1.0) -> dict:
    """``n`` events of random objects, float32 as read (Poisson means of each map's objects): lepton
    candidates, tracks (the first of an event at its first electron's (eta, phi): that electron's own
    track), photons and neutral hadrons around the maps' thresholds, eta in steps of 0.01 (objects at
    equal eta), phi beyond +-pi; then the rest of what the observables read."""

    def collection(mean, fields):
        counts = rng.poisson(mean, n)
        size = int(counts.sum())
        values = {name: make(size).astype(np.float32) for name, make in fields.items()}
        return counts, values

    # Dense enough for several objects in most cones: the order of the sums matters only from three on.
    kinematics = {"Eta": lambda k: np.round(rng.uniform(-eta_max, eta_max, k), 2), "Phi": lambda k: rng.uniform(-3.3, 3.3, k)}
    charge = {"Charge": lambda k: rng.choice([-1.0, 1.0], k)}
    electrons = collection(0.8, {"PT": lambda k: rng.uniform(15.0, 80.0, k), **kinematics, **charge})
    muons = collection(0.8, {"PT": lambda k: rng.uniform(15.0, 80.0, k), **kinematics, **charge})
    tracks = collection(tracks, {"PT": lambda k: rng.exponential(0.8, k), **kinematics})
    photons = collection(photons, {"ET": lambda k: rng.exponential(0.8, k), **kinematics})
    neutrals = collection(neutrals, {"ET": lambda k: rng.exponential(0.8, k), **kinematics})
    track_first = np.cumsum(tracks[0]) - tracks[0]
    electron_first = np.cumsum(electrons[0]) - electrons[0]
    both = (tracks[0] > 0) & (electrons[0] > 0)
    for name in ("Eta", "Phi"):
        tracks[1][name][track_first[both]] = electrons[1][name][electron_first[both]]
    tracks[1]["PT"][track_first[both]] = 30.0
    size = int(tracks[0].sum())
    tracks[1].update(
        PID=rng.choice([-211, 211, 11, -13], size).astype(np.int32),
        Charge=rng.choice([-1, 1], size).astype(np.int32),
        **{axis: rng.normal(0.0, 1.0, size).astype(np.float32) for axis in ("X", "Y", "Z")},
    )
    collections = {
        "Electron": electrons,
        "MuonTight": muons,
        "EFlowTrack": tracks,
        "EFlowPhoton": photons,
        "EFlowNeutralHadron": neutrals,
        "Jet": collection(
            3, {"PT": lambda k: rng.uniform(20.0, 100.0, k), "Eta": lambda k: rng.uniform(-3, 3, k), "BTag": lambda k: rng.integers(0, 2, k)}
        ),
        "MissingET": (np.ones(n, dtype=np.int64), {"MET": rng.uniform(0, 50, n).astype(np.float32), "Phi": rng.uniform(-3, 3, n).astype(np.float32)}),
        "Event": (np.ones(n, dtype=np.int64), {"Number": np.arange(n), "Weight": np.ones(n, dtype=np.float32)}),
    }
    return {name: ak.zip({field: ak.unflatten(values, counts) for field, values in fields.items()}) for name, (counts, fields) in collections.items()}


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


@pytest.mark.parametrize("quirks", [CORRECTED, ORIGINAL])
def test_compiled_particle_rows_equal_the_numpy_reference_on_dense_events(quirks, monkeypatch):
    """The particle rows' kernel builds each selected event's maps, cone sums and rows in one pass: its
    rows are the numpy reference's, bit for bit, in events dense enough that every group reaches its cap
    (450 tracks, 150 photons, 200 neutral hadrons) and with objects at equal eta, from float32 inputs as
    read and from float64 ones; a map with an |eta| >= 500 takes the reference."""
    rng = np.random.default_rng(5)
    events = random_events(rng, 60, tracks=1000, photons=600, neutrals=800, eta_max=2.5)
    kernel = kernels.particle_rows

    def into_nan_rows(*arguments):  # every value the kernel leaves unwritten would show as NaN
        arguments[-3].fill(np.nan)
        return kernel(*arguments)

    monkeypatch.setattr(kernels, "particle_rows", into_nan_rows)
    compiled, reference = observables.compute(events, quirks), observables.compute(events, quirks, compiled=False)
    for name in ("entry", "hlf", "llf", "n_particles"):
        assert compiled[name].tobytes() == reference[name].tobytes(), name
    rows = reference["llf"]
    counts = {column: np.add.reduceat(rows[:, column], event_starts(reference["n_particles"])) for column in (13, 15, 14)}
    assert reference["entry"].size > 5
    assert counts[13].max() == MAX_TRACKS and counts[15].max() == MAX_PHOTONS and counts[14].max() == MAX_NEUTRALS
    # Inputs other than float32 are computed in float64, as the reference computes them.
    doubles = {name: ak.values_astype(values, np.float64) for name, values in events.items()}
    assert observables.compute(doubles, quirks)["llf"].tobytes() == observables.compute(doubles, quirks, compiled=False)["llf"].tobytes()
    # An |eta| the kernel's keys cannot hold: the reference computes the rows.
    events["EFlowPhoton"] = ak.zip({"ET": [[5.0]] * 60, "Eta": [[600.0]] + [[0.0]] * 59, "Phi": [[0.0]] * 60})
    monkeypatch.setattr(kernels, "particle_rows", None)
    with np.errstate(over="ignore"):  # the energy of eta = 600 overflows float32
        assert observables.compute(events, quirks)["llf"].tobytes() == observables.compute(events, quirks, compiled=False)["llf"].tobytes()


def test_particle_rows_add_objects_at_equal_eta_in_their_collection_order(tmp_path):
    """A cone sum's order can show even in its float32 row: at equal eta it is the objects' position in
    their collection, in the kernel as in the reference (checked: a reversed tie order fails; phi does not
    follow the position, so neither would an order by phi). In order,
    2 + 2 + 2^30 + 2^54 is exact in float64 and rounds up in float32; in reverse each 2 is half a float64
    step, rounded away, and 2^54 + 2^30 rounds down (to even) in float32."""
    photons = [(2.0, 0.1, 0.1, 2.0), (2.0, 0.1, 0.0, 2.0), (2.0**30, 0.1, 0.05, 2.0**30), (2.0**54, 0.1, 0.02, 2.0**54)]
    event = {"Electron": [(1e18, -1.0, 0.0, 1)], TRACK: [(211, 1, 1.0, 0.1, 0.05, 0.0, 0.0, 0.0)], "EFlowPhoton": photons, "MissingET": [(1.0, 0.0)]}
    event["EFlowNeutralHadron"] = [(2.0, -2.0, 2.0, 2.0)]  # far: the original drops events with an empty map
    events = observables.read(delphes_file(tmp_path / "tied.root", [event]), None, None)
    for quirks in (CORRECTED, ORIGINAL):
        rows = {compiled: observables.compute(events, quirks, compiled=compiled)["llf"] for compiled in (True, False)}
        assert rows[True][1, 11] == rows[False][1, 11] == 2.0**54 + 2.0**31  # the track's photon isolation (its pT is 1)


def test_cone_sums_leave_out_coordinates_outside_the_keys_room():
    """NaN and infinite eta and phi sum to nothing; eta = 1500 of event 0 must not reach event 1's objects
    at eta 0."""
    cone = ConeIndex(np.array([0, 1]), np.array([0.0, 0.0]), np.array([0.0, 0.0]), np.array([1.0, 1.0]))
    strange_eta, strange_phi = np.array([np.nan, np.inf, -np.inf, 0.0, 0.0, 1500.0]), np.array([0.0, 0.0, 0.0, np.nan, np.inf, 0.0])
    assert cone.sums(np.zeros(6, dtype=np.int64), strange_eta, strange_phi).tolist() == [0.0] * 6
    assert cone.sums(np.array([0, 1]), np.array([1500.0, 0.0]), np.zeros(2)).tolist() == [0.0, 1.0]


def test_a_collection_read_flat_gets_its_event_index_from_its_bounds_only_when_asked():
    """Collections as read come with their events' bounds (the offsets); the per-object event index,
    which the compiled path never needs for the large ones, is made on demand and matches the one of a
    collection that is not flat records."""
    counts = [2, 0, 3, 1]
    records = ak.zip({"PT": ak.unflatten(np.arange(6, dtype=np.float32), counts), "Eta": ak.unflatten(np.zeros(6, np.float32), counts)})
    read = Flat.of(records[1:])  # a slice: offsets that do not start at 0
    assert "event" not in read.__dict__
    assert read.bounds.tolist() == [0, 0, 3, 4]
    assert read["PT"].tolist() == [2.0, 3.0, 4.0, 5.0]
    assert read.event.tolist() == [1, 1, 1, 2]
    selected = ak.Array([[{"PT": 1.0}, {"PT": -1.0}], [], [{"PT": 2.0}, {"PT": 3.0}]])
    jagged = Flat.of(selected[selected.PT > 0])  # not records as read: flattened, their events given
    assert jagged.event.tolist() == [0, 2, 2] and jagged.bounds.tolist() == [0, 1, 1, 3]
    assert jagged.take(np.array([1, 2])).counts().tolist() == [0, 0, 2]
    assert read.float64("PT").bounds is read.bounds and read.float64("PT")["PT"].dtype == np.float64
    kept = read.events(np.array([False, True, True]))  # as a batch's events with NaN inputs dropped
    assert kept.n_events == 2 and kept.event.tolist() == [0, 0, 0, 1] and kept.bounds.tolist() == [0, 3, 4]
    with pytest.raises(ValueError, match="events or its events' bounds"):
        Flat({}, 0)


def test_coordinates_are_separable_only_when_every_eta_is_finite_and_inside_the_keys_room():
    assert separable(np.zeros(0, np.float32)) and separable(np.array([-499.0, 0.0, 499.0], np.float32))
    for strange in (np.nan, np.inf, -np.inf, 500.0, -500.0):
        assert not separable(np.array([0.0, strange, 1.0]))
