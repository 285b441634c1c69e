"""The trigger-emulating isolated-lepton selection of the original study, vectorized.

An electron or tight muon with pT > 23 GeV whose relative isolation (charged tracks with pT > 0.5 GeV,
photons and neutral hadrons with ET > 1 GeV, within dR < 0.3) is below 0.45.

Everything works on flat numpy arrays of a whole batch of events (an ``event`` index per object), and
cone sums use an eta-sorted index per event, so the cost grows with the particles near each query, not
with all pairs. ``quirks`` (a ``Quirks``) reproduces the original code where it differs from the
physics; the default is the corrected behaviour.
"""

from __future__ import annotations

from dataclasses import dataclass

import awkward as ak
import numpy as np

from .cones import EVENT_STRIDE, ConeIndex
from .kinematics import delta_phi
from .quirks import CORRECTED, Quirks

LEPTON_PT_MIN = 23.0
ISOLATION_MAX = 0.45
TRACK_PT_MIN = 0.5
NEUTRAL_ET_MIN = 1.0
LEPTON_ETA_MAX = 2.5  # corrected behaviour only: the original applied no |eta| cut
SELF_MATCH_DR = 1e-4  # a lepton's own track carries the lepton's (eta, phi)


@dataclass
class Flat:
    """A collection of a batch as flat columns plus the event index of each object (event-ordered)."""

    event: np.ndarray
    columns: dict
    n_events: int

    @classmethod
    def of(cls, records, mask=None) -> Flat:
        """The flat form of jagged records (columns keep their dtype), or of a ``Flat`` itself; ``mask``:
        per object (flat or jagged), the objects to keep."""
        if isinstance(records, Flat):
            flat = records
        else:
            counts = ak.to_numpy(ak.num(records))
            columns = {name: ak.to_numpy(ak.flatten(records[name])) for name in records.fields}
            flat = cls(np.repeat(np.arange(counts.size), counts), columns, counts.size)
        if mask is None:
            return flat
        return flat.take(np.flatnonzero(mask if isinstance(mask, np.ndarray) else ak.to_numpy(ak.flatten(mask))))

    def __getitem__(self, name):
        return self.columns[name]

    def take(self, index) -> Flat:
        return Flat(self.event[index], {name: column[index] for name, column in self.columns.items()}, self.n_events)

    def float64(self, *names: str) -> Flat:
        """The columns ``names`` (every column without names) as float64, the cone sums' precision."""
        names = names or tuple(self.columns)
        return Flat(
            self.event, {name: column.astype(np.float64) if name in names else column for name, column in self.columns.items()}, self.n_events
        )

    def events(self, keep: np.ndarray) -> Flat:
        """The objects of the events ``keep`` (a mask over events), the events numbered anew."""
        if keep.all():  # the usual case of the finite-input check: nothing to copy
            return self
        number = np.cumsum(keep) - 1
        inside = keep[self.event]
        return Flat(number[self.event[inside]], {name: column[inside] for name, column in self.columns.items()}, int(keep.sum()))

    def counts(self) -> np.ndarray:
        return np.bincount(self.event, minlength=self.n_events)

    def first(self, name: str) -> np.ndarray:
        """The first object's ``name`` of each event, as float64 (NaN for an event without objects)."""
        counts = self.counts()
        values = np.full(self.n_events, np.nan)
        values[counts > 0] = self[name][(np.cumsum(counts) - counts)[counts > 0]]
        return values


@dataclass
class IsolationMaps:
    """The three isolation maps of the original: charged tracks, photons, neutral hadrons above threshold."""

    tracks: Flat
    photons: Flat
    neutrals: Flat

    @classmethod
    def of(cls, events: dict) -> IsolationMaps:
        """From a batch's collections, jagged records or ``Flat`` (the kinematics as float64 for the sums;
        the other columns, e.g. the tracks' vertex and charge, as read)."""
        tracks, photons, neutrals = (Flat.of(events[name]) for name in ("EFlowTrack", "EFlowPhoton", "EFlowNeutralHadron"))
        return cls(
            tracks=tracks.take(np.flatnonzero(tracks["PT"] > TRACK_PT_MIN)).float64("PT", "Eta", "Phi"),
            photons=photons.take(np.flatnonzero(photons["ET"] > NEUTRAL_ET_MIN)).float64("ET", "Eta", "Phi"),
            neutrals=neutrals.take(np.flatnonzero(neutrals["ET"] > NEUTRAL_ET_MIN)).float64("ET", "Eta", "Phi"),
        )

    @property
    def n_events(self) -> int:
        return self.tracks.n_events

    def indices(self, compiled: bool = True):
        """A cone index per map; ``compiled=False``: their sums with the numpy reference."""
        return {
            "charged": ConeIndex(self.tracks.event, self.tracks["Eta"], self.tracks["Phi"], self.tracks["PT"], compiled),
            "photon": ConeIndex(self.photons.event, self.photons["Eta"], self.photons["Phi"], self.photons["ET"], compiled),
            "neutral": ConeIndex(self.neutrals.event, self.neutrals["Eta"], self.neutrals["Phi"], self.neutrals["ET"], compiled),
        }

    def non_empty(self, n_events) -> np.ndarray:
        """Events where all three maps have an entry (the original dropped the others)."""
        present = np.ones(n_events, dtype=bool)
        for flat in (self.tracks, self.photons, self.neutrals):
            present &= np.bincount(flat.event, minlength=n_events) > 0
        return present


def own_track_index(maps: IsolationMaps, indices: dict, event, eta, phi) -> np.ndarray:
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
    """Charged, photon and neutral relative isolation of each object.

    Corrected: the object's own track (``own_track``) is left out of the charged sum. Original: the
    charged ratio minus 1 (assumes the own track is there and has the object's pT), phi not wrapped.
    """
    q = (objects.event, objects["Eta"], objects["Phi"])
    wrap = not quirks.phi_not_wrapped
    charged = indices["charged"].sums(*q, own=None if quirks.isolation_minus_one else own_track, wrap_phi=wrap) / pt
    if quirks.isolation_minus_one:
        charged = charged - 1.0
    return {
        "charged": charged,
        "photon": indices["photon"].sums(*q, wrap_phi=wrap) / pt,
        "neutral": indices["neutral"].sums(*q, wrap_phi=wrap) / pt,
    }


def select_lepton(events: dict, maps: IsolationMaps, indices: dict, quirks: Quirks) -> dict:
    """The isolated lepton of each event, if any: flat per-event arrays (``found`` says which events)."""
    chosen = {}
    for collection, is_electron in (("Electron", 1.0), ("MuonTight", 0.0)):
        leptons = Flat.of(events[collection]).float64()
        n_events = leptons.n_events
        candidate = leptons["PT"] > LEPTON_PT_MIN
        if not quirks.no_lepton_eta_cut:
            candidate &= np.abs(leptons["Eta"]) < LEPTON_ETA_MAX
        leptons = leptons.take(np.flatnonzero(candidate))
        own = own_track_index(maps, indices, leptons.event, leptons["Eta"], leptons["Phi"])
        iso = isolation(indices, leptons, leptons["PT"], own, quirks)
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
    maps = IsolationMaps.of(events)
    found = select_lepton(events, maps, maps.indices(), quirks)["found"]
    if quirks.drop_empty_isolation_maps:
        found &= maps.non_empty(len(found))
    return found
