"""The trigger-emulating isolated-lepton selection of the original study, vectorized.

An electron or tight muon with pT > 23 GeV whose relative isolation (charged tracks with pT > 0.5 GeV,
photons and neutral hadrons with ET > 1 GeV, within dR < 0.3) is below 0.45.

Everything works on flat numpy arrays of a whole batch of events (``Flat``: each event's bounds, and an
``event`` index per object where one is needed). Each lepton candidate scans its own event's objects
once (a handful of candidates per event), in compiled kernels; the numpy reference sums over eta-sorted
cone indices, as the particle rows' reference does. ``quirks`` (a ``Quirks``) reproduces the original
code where it differs from the physics; the default is the corrected behaviour.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import awkward as ak
import numpy as np

from . import kernels
from .cones import CONE_RADIUS, EVENT_STRIDE, ConeIndex, separable
from .kinematics import delta_phi
from .quirks import CORRECTED, Quirks

LEPTON_PT_MIN = 23.0
ISOLATION_MAX = 0.45
TRACK_PT_MIN = 0.5
NEUTRAL_ET_MIN = 1.0
LEPTON_ETA_MAX = 2.5  # corrected behaviour only: the original applied no |eta| cut
SELF_MATCH_DR = 1e-4  # a lepton's own track carries the lepton's (eta, phi)


class Flat:
    """A collection of a batch as flat columns, its objects grouped by event (events in order): each
    object's event index (``event``) and each event's first object, then the end (``bounds``), each
    derived from the other the first time it is asked for. The compiled path needs only the bounds of
    the large collections, which come with the read (their offsets), so their event index is never made."""

    def __init__(self, columns: dict, n_events: int, *, event: np.ndarray | None = None, bounds: np.ndarray | None = None):
        if event is None and bounds is None:
            raise ValueError("a Flat needs its objects' events or its events' bounds")
        self.columns, self.n_events = columns, n_events
        if event is not None:
            self.__dict__["event"] = event
        if bounds is not None:
            self.__dict__["bounds"] = bounds

    @classmethod
    def of(cls, records, mask=None) -> Flat:
        """The flat form of jagged records (columns keep their dtype), or of a ``Flat`` itself; ``mask``:
        per object (flat or jagged), the objects to keep. Columns may be views of the records' buffers:
        read them, do not write into them."""
        if isinstance(records, Flat):
            flat = records
        else:
            layout = ak.to_layout(records)
            if _is_flat_records(layout):  # as read and zipped: the columns are views of the read buffers
                offsets = np.asarray(layout.offsets)
                columns = {name: np.asarray(layout.content.content(name).data)[offsets[0] : offsets[-1]] for name in layout.content.fields}
                flat = cls(columns, offsets.size - 1, bounds=np.subtract(offsets, offsets[0], dtype=np.int64))
            else:
                counts = ak.to_numpy(ak.num(records))
                columns = {name: ak.to_numpy(ak.flatten(records[name])) for name in records.fields}
                flat = cls(columns, counts.size, event=np.repeat(np.arange(counts.size), counts))
        if mask is None:
            return flat
        return flat.take(np.flatnonzero(mask if isinstance(mask, np.ndarray) else ak.to_numpy(ak.flatten(mask))))

    def __getitem__(self, name):
        return self.columns[name]

    def take(self, index) -> Flat:
        return Flat({name: column[index] for name, column in self.columns.items()}, self.n_events, event=self.event[index])

    def float64(self, *names: str) -> Flat:
        """The columns ``names`` (every column without names) as float64, the cone sums' precision."""
        names = names or tuple(self.columns)
        columns = {name: column.astype(np.float64) if name in names else column for name, column in self.columns.items()}
        return Flat(columns, self.n_events, event=self.__dict__.get("event"), bounds=self.__dict__.get("bounds"))

    def events(self, keep: np.ndarray) -> Flat:
        """The objects of the events ``keep`` (a mask over events), the events numbered anew."""
        if keep.all():  # the usual case of the finite-input check: nothing to copy
            return self
        number = np.cumsum(keep) - 1
        inside = keep[self.event]
        return Flat({name: column[inside] for name, column in self.columns.items()}, int(keep.sum()), event=number[self.event[inside]])

    def counts(self) -> np.ndarray:
        return np.diff(self.bounds)

    @cached_property
    def event(self) -> np.ndarray:
        """Each object's event."""
        return np.repeat(np.arange(self.n_events), self.counts())

    @cached_property
    def bounds(self) -> np.ndarray:
        """Each event's first object, then the end."""
        bounds = np.zeros(self.n_events + 1, dtype=np.int64)
        np.cumsum(np.bincount(self.event, minlength=self.n_events), out=bounds[1:])
        return bounds

    def first(self, name: str) -> np.ndarray:
        """The first object's ``name`` of each event, as float64 (NaN for an event without objects)."""
        starts, stops = self.bounds[:-1], self.bounds[1:]
        values = np.full(self.n_events, np.nan)
        values[stops > starts] = self[name][starts[stops > starts]]
        return values


# The isolation maps: the collection, its transverse-momentum field and its threshold.
MAPS = {
    "charged": ("EFlowTrack", "PT", TRACK_PT_MIN),
    "photon": ("EFlowPhoton", "ET", NEUTRAL_ET_MIN),
    "neutral": ("EFlowNeutralHadron", "ET", NEUTRAL_ET_MIN),
}


@dataclass
class IsolationMaps:
    """The three isolation maps of the original: charged tracks, photons, neutral hadrons above threshold."""

    tracks: Flat
    photons: Flat
    neutrals: Flat

    @classmethod
    def of(cls, events: dict, keep: np.ndarray | None = None) -> IsolationMaps:
        """From a batch's collections, jagged records or ``Flat`` (the kinematics as float64 for the sums;
        the other columns, e.g. the tracks' vertex and charge, as read). ``keep``: a mask over events, the
        only events whose objects enter the maps (numbered as before)."""
        collections = {kind: Flat.of(events[name]) for kind, (name, _, _) in MAPS.items()}
        maps = {
            kind: objects.take(above_threshold(objects, kind, keep)).float64(MAPS[kind][1], "Eta", "Phi") for kind, objects in collections.items()
        }
        return cls(tracks=maps["charged"], photons=maps["photon"], neutrals=maps["neutral"])

    @property
    def n_events(self) -> int:
        return self.tracks.n_events

    def indices(self):
        """A cone index per map."""
        maps = {"charged": self.tracks, "photon": self.photons, "neutral": self.neutrals}
        return {kind: ConeIndex(objects.event, objects["Eta"], objects["Phi"], objects[MAPS[kind][1]]) for kind, objects in maps.items()}


def above_threshold(objects: Flat, kind: str, keep: np.ndarray | None = None) -> np.ndarray:
    """Positions of the objects of a map's collection that enter the map ``kind`` (``keep``: of those
    events only, a mask over events)."""
    _, field, threshold = MAPS[kind]
    above = objects[field] > threshold
    return np.flatnonzero(above if keep is None else above & keep[objects.event])


def _is_flat_records(layout) -> bool:
    """Whether a layout is a list of records of plain numbers (what zipping the branches read gives)."""
    return (
        isinstance(layout, ak.contents.ListOffsetArray)
        and isinstance(layout.content, ak.contents.RecordArray)
        and not layout.content.is_tuple
        and all(
            isinstance(layout.content.content(name), ak.contents.NumpyArray) and layout.content.content(name).data.ndim == 1
            for name in layout.content.fields
        )
    )


def maps_non_empty(events: dict, n_events: int) -> np.ndarray:
    """Events where all three maps have an entry (the original dropped the others)."""
    present = np.ones(n_events, dtype=bool)
    for kind, (name, _, _) in MAPS.items():
        objects = Flat.of(events[name])
        present &= np.bincount(objects.event[above_threshold(objects, kind)], minlength=n_events) > 0
    return present


def own_track_index(indices: dict, event, eta, phi) -> np.ndarray:
    """Index in the charged map of the track at the same (eta, phi) as each object (dR < 1e-4), or -1."""
    cone = indices["charged"]
    low = np.searchsorted(cone.key, event * EVENT_STRIDE + eta - SELF_MATCH_DR, side="left")
    high = np.searchsorted(cone.key, event * EVENT_STRIDE + eta + SELF_MATCH_DR, side="right")
    own = np.full(eta.size, -1, dtype=np.int64)
    for offset in range(int((high - low).max(initial=0))):  # almost always 0 or 1 candidate
        candidate = low + offset
        valid = candidate < high
        safe = np.where(valid, candidate, 0)
        dphi = delta_phi(phi, cone.phi[safe])
        match = valid & (own < 0) & ((eta - cone.eta[safe]) ** 2 + dphi**2 < SELF_MATCH_DR**2)
        own[match] = cone.order[safe[match]]
    return own


def isolation(indices: dict, objects: Flat, pt, own_track, quirks: Quirks) -> dict:
    """Charged, photon and neutral relative isolation of each object, from the maps' cone indices.

    Corrected: the object's own track (``own_track``) is left out of the charged sum. Original: the
    charged ratio minus 1 (assumes the own track is there and has the object's pT), phi not wrapped.
    """
    q = (objects.event, objects["Eta"], objects["Phi"])
    wrap = not quirks.phi_not_wrapped
    sums = {
        kind: cone.sums(*q, own=own_track if kind == "charged" and not quirks.isolation_minus_one else None, wrap_phi=wrap)
        for kind, cone in indices.items()
    }
    return _relative(sums, pt, quirks)


def scanned_isolation(collections: dict, objects: Flat, own_track, quirks: Quirks) -> dict:
    """``isolation`` for a few objects per event, each scanning its own event's collections (``Flat``, as
    read) instead of cone indices of every event: the same values, bit for bit (``kernels.event_cone_sums``).
    ``own_track``: a position in the tracks as read, or -1."""
    q = (objects.event.astype(np.int64), objects["Eta"], objects["Phi"])
    none = np.full(q[0].size, -1, dtype=np.int64)
    sums = {}
    for kind, (name, field, threshold) in MAPS.items():
        maps_own = own_track if kind == "charged" and not quirks.isolation_minus_one else none
        scan = collections[name]
        sums[kind] = np.empty(q[0].size)
        kernels.event_cone_sums(
            scan.bounds,
            scan["Eta"],
            scan["Phi"],
            scan[field],
            threshold,
            *q,
            maps_own,
            CONE_RADIUS,
            EVENT_STRIDE,
            not quirks.phi_not_wrapped,
            sums[kind],
        )
    return _relative(sums, objects["PT"], quirks)


def _relative(sums: dict, pt, quirks: Quirks) -> dict:
    iso = {kind: values / pt for kind, values in sums.items()}
    if quirks.isolation_minus_one:
        iso["charged"] = iso["charged"] - 1.0
    return iso


def select_lepton(events: dict, quirks: Quirks, compiled: bool = True) -> dict:
    """The isolated lepton of each event, if any: flat per-event arrays (``found`` says which events;
    ``own``: the position of its own track among the tracks as read, or -1).

    Compiled: each candidate scans its own event (``scanned_isolation``), so no event without a
    candidate is sorted; ``compiled=False``, or coordinates the cone indices' keys cannot hold: the
    numpy reference, with cone indices of every event."""
    collections = {name: Flat.of(events[name]) for name in ("Electron", "MuonTight", *(name for name, _, _ in MAPS.values()))}
    if len({flat.n_events for flat in collections.values()}) > 1:  # the kernels index every collection by event
        raise ValueError(f"collections of different numbers of events: { {name: flat.n_events for name, flat in collections.items()} }")
    candidates = {}
    for collection in ("Electron", "MuonTight"):
        leptons = collections[collection].float64()
        candidate = leptons["PT"] > LEPTON_PT_MIN
        if not quirks.no_lepton_eta_cut:
            candidate &= np.abs(leptons["Eta"]) < LEPTON_ETA_MAX
        candidates[collection] = leptons.take(np.flatnonzero(candidate))
    compiled = compiled and all(separable(collections[name]["Eta"]) for name, _, _ in MAPS.values())
    compiled = compiled and all(separable(leptons["Eta"]) for leptons in candidates.values())
    if compiled:
        tracks = collections["EFlowTrack"]
    else:
        tracks_kept = above_threshold(collections["EFlowTrack"], "charged")
        indices = IsolationMaps.of(collections).indices()

    chosen = {}
    for collection, is_electron in (("Electron", 1.0), ("MuonTight", 0.0)):
        leptons = candidates[collection]
        n_events = leptons.n_events
        q = (leptons.event.astype(np.int64), leptons["Eta"], leptons["Phi"])
        if compiled:
            own = np.empty(q[0].size, dtype=np.int64)
            kernels.own_objects(
                tracks.bounds, tracks["Eta"], tracks["Phi"], tracks["PT"], TRACK_PT_MIN, *q, SELF_MATCH_DR, SELF_MATCH_DR**2, EVENT_STRIDE, own
            )
            iso = scanned_isolation(collections, leptons, own, quirks)
        else:
            own = own_track_index(indices, *q)
            iso = isolation(indices, leptons, leptons["PT"], own, quirks)
            own[own >= 0] = tracks_kept[own[own >= 0]]  # the map's position -> the position as read
        passing = np.flatnonzero(iso["charged"] + iso["photon"] + iso["neutral"] < ISOLATION_MAX)
        # Original: first qualifying lepton in collection order; corrected: the highest-pT one (the same
        # for pT-ordered Delphes collections, but not assumed).
        order = passing if quirks.first_lepton_in_collection else passing[np.lexsort((-leptons["PT"][passing], leptons.event[passing]))]
        first = order[np.unique(leptons.event[order], return_index=True)[1]]
        found = np.zeros(n_events, dtype=bool)
        found[leptons.event[first]] = True
        fields = {name: np.zeros(n_events) for name in ("PT", "Eta", "Phi", "Charge", "iso_charged", "iso_photon", "iso_neutral", "own")}
        for name in ("PT", "Eta", "Phi", "Charge"):
            fields[name][leptons.event[first]] = leptons[name][first]
        for name in ("charged", "photon", "neutral"):
            fields[f"iso_{name}"][leptons.event[first]] = iso[name][first]
        fields["own"][leptons.event[first]] = own[first]
        fields["is_electron"] = np.full(n_events, is_electron)
        chosen[collection] = (found, fields)

    (has_e, electron), (has_mu, muon) = chosen["Electron"], chosen["MuonTight"]
    # Both found: the original compared eta (a porting bug, it meant pT); corrected: the larger pT.
    prefer_electron = electron["Eta"] > muon["Eta"] if quirks.lepton_by_eta else electron["PT"] >= muon["PT"]
    use_electron = has_e & (~has_mu | prefer_electron)
    lepton = {name: np.where(use_electron, electron[name], muon[name]) for name in electron}
    lepton["own"] = lepton["own"].astype(np.int64)
    lepton["found"] = has_e | has_mu
    return lepton


def isolated_lepton_mask(events: dict, quirks: Quirks = CORRECTED) -> np.ndarray:
    """Events passing the isolated-lepton trigger emulation."""
    events = {name: Flat.of(records) for name, records in events.items()}  # flattened once for both uses
    found = select_lepton(events, quirks)["found"]
    if quirks.drop_empty_isolation_maps:
        found &= maps_non_empty(events, len(found))
    return found
