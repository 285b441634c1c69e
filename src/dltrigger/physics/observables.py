"""What the study measures in each event, for a whole batch at once: the isolated-lepton trigger
emulation (the cutflow), then, for the selected events, the 14 high-level features and the particle
rows of the original's 801 x 19 matrix (real rows only). Flat numpy columns from the first step, no
Python loop over events or particles: what goes event by event (the cone sums, the particle rows) runs
in compiled kernels (``kernels``), with the numpy reference beside them. Shared by the batch ingestion
and anything else that must see events as the study does.
"""

from __future__ import annotations

import numpy as np

from ..core.arrays import event_starts
from ..core.schema import HLF_NAMES, LLF_NAMES, MAX_NEUTRALS, MAX_PHOTONS, MAX_TRACKS
from . import kernels
from .cones import CONE_RADIUS, EVENT_STRIDE, separable
from .delphes import read_delphes
from .kinematics import delta_phi
from .quirks import CORRECTED, Quirks
from .selection import LEPTON_PT_MIN, MAPS, Flat, IsolationMaps, maps_non_empty, select_lepton

JET_PT_MIN, JET_ETA_MAX = 30.0, 2.6
# The particle rows' columns with a value (E, px, py, pz, pT, eta, phi, vertex x y z, the three
# isolations, charge); 13-17 are the one-hot particle type.
VALUE_COLUMNS = np.array([*range(13), 18])
# A track within this dR^2 of the lepton is the lepton's own and gets no row.
OWN_TRACK_DR2 = 1e-8

BRANCHES = {
    "Event": ("Number", "Weight"),
    "EFlowTrack": ("PT", "Eta", "Phi", "PID", "Charge", "X", "Y", "Z"),
    "EFlowPhoton": ("ET", "Eta", "Phi"),
    "EFlowNeutralHadron": ("ET", "Eta", "Phi"),
    "Electron": ("PT", "Eta", "Phi", "Charge"),
    "MuonTight": ("PT", "Eta", "Phi", "Charge"),
    "MissingET": ("MET", "Phi"),
    "Jet": ("PT", "Eta", "BTag"),
}
BRANCH_NAMES = [f"{name}.{field}" for name, fields in BRANCHES.items() for field in fields]
# Cuts of the cutflow, in order; "isolation maps" applies only with Quirks.drop_empty_isolation_maps.
CUTS = ("read", "finite", "isolation maps", "lepton pT > 23 GeV", "isolated lepton")


def compute(events: dict, quirks: Quirks = CORRECTED, compiled: bool = True) -> dict:
    """Selection and features of a batch of events (jagged records per collection, as read).
    ``compiled=False``: with the numpy reference of the compiled kernels (identical results).

    Returns ``cutflow`` (events surviving each cut), ``entry`` (index in the batch of each selected
    event), ``hlf`` (n, 14), ``llf`` (the real particle rows of all events, grouped by event: (total, 19)
    float32) and ``n_particles`` (n,), the rows of each event.
    """
    n_read = len(events["Event"])
    collections = {name: Flat.of(record) for name, record in events.items()}  # flat numpy from here on
    finite = np.ones(n_read, dtype=bool)
    for flat in collections.values():
        for values in flat.columns.values():
            # min and max are NaN or infinite if any value is: two passes without a mask in the usual case
            if np.issubdtype(values.dtype, np.floating) and values.size and not (np.isfinite(values.min()) and np.isfinite(values.max())):
                finite[flat.event[~np.isfinite(values)]] = False
    entry = np.flatnonzero(finite)
    collections = {name: flat.events(finite) for name, flat in collections.items()}
    n = entry.size

    lepton = select_lepton(collections, quirks, compiled)
    maps_ok = maps_non_empty(collections, n) if quirks.drop_empty_isolation_maps else np.ones(n, dtype=bool)
    has_hard_lepton = np.zeros(n, dtype=bool)
    for collection in ("Electron", "MuonTight"):
        leptons = collections[collection]
        has_hard_lepton[leptons.event[leptons["PT"] > LEPTON_PT_MIN]] = True
    selected = lepton["found"] & maps_ok
    cutflow = {
        "read": n_read,
        "finite": n,
        "isolation maps": int(maps_ok.sum()),
        "lepton pT > 23 GeV": int((maps_ok & has_hard_lepton).sum()),
        "isolated lepton": int(selected.sum()),
    }
    keep = np.flatnonzero(selected)
    lep = {name: values[keep] for name, values in lepton.items()}
    hlf = _high_level({name: collections[name].events(selected) for name in ("Jet", "MissingET")}, lep, quirks)
    if compiled and all(separable(collections[name]["Eta"]) for name, _, _ in MAPS.values()):
        llf, n_particles = _compiled_particles(collections, keep, lep, quirks)
    else:
        # The isolation maps hold the selected events only (numbered as in the batch), the only ones
        # whose objects need a cone index: 28 % of the default run's events.
        maps = IsolationMaps.of(collections, keep=selected)
        llf, n_particles = _particles(maps, maps.indices(), keep, lep, quirks)
    event = collections["Event"].events(selected)
    return {
        "cutflow": cutflow,
        "entry": entry[keep],
        "hlf": hlf,
        "llf": llf,
        "n_particles": n_particles,
        "weight": event.first("Weight").astype(np.float32),
        "event_number": event.first("Number").astype(np.int64),
    }


def _high_level(events: dict, lep: dict, quirks: Quirks) -> np.ndarray:
    jets, n = events["Jet"], lep["PT"].size
    jets = jets.take(np.flatnonzero((jets["PT"] > JET_PT_MIN) & (np.abs(jets["Eta"]) < JET_ETA_MAX)))
    met = events["MissingET"].first("MET")
    phi_met = events["MissingET"].first("Phi")
    mt2 = 2 * met * lep["PT"] * (1 - np.cos(lep["Phi"] - phi_met))
    columns = [
        _float32_sums(jets.event, jets["PT"], n),
        met,
        phi_met,
        mt2 if quirks.mt_squared else np.sqrt(np.maximum(mt2, 0.0)),
        jets.counts(),
        np.bincount(jets.event[jets["BTag"] > 0], minlength=n),
        lep["PT"],
        lep["Eta"],
        lep["Phi"],
        lep["iso_charged"],
        lep["iso_photon"],
        lep["iso_neutral"],
        lep["Charge"],
        lep["is_electron"],
    ]
    return np.stack(columns, axis=1).astype(np.float32).reshape(-1, len(HLF_NAMES))


def _float32_sums(event: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Per-event sums of float32 values accumulated in float32, in order, as Delphes-reading code does."""
    sums = np.zeros(n, dtype=np.float32)
    np.add.at(sums, event, values)
    return sums


def _rank(event: np.ndarray) -> np.ndarray:
    """Position of each object within its event (objects grouped by event, in collection order)."""
    index = np.arange(event.size)
    starts = np.empty(event.size, dtype=bool)
    starts[:1] = True
    np.not_equal(event[1:], event[:-1], out=starts[1:])
    return index - np.maximum.accumulate(np.where(starts, index, 0))  # minus the index of the event's first


def _compiled_particles(collections: dict, selected: np.ndarray, lep: dict, quirks: Quirks):
    """``_particles`` of the ``selected`` events (numbers in the batch) in one compiled pass over the
    collections as read (``kernels.particle_rows``), then the massless (E, px, py, pz) in numpy, as the
    reference computes them."""
    maps = [collections[name] for name, _, _ in MAPS.values()]
    columns = [[flat[field], flat["Eta"], flat["Phi"]] for flat, (_, field, _) in zip(maps, MAPS.values())]
    # One array type per argument for the kernel: float32 as read; anything else as float64, as the
    # reference computes with.
    kinematics = np.result_type(*(values for group in columns for values in group))
    pt, eta, phi = zip(*([np.ascontiguousarray(values, kinematics) for values in group] for group in columns))
    tracks = maps[0]
    vertex = np.result_type(*(tracks[c] for c in ("X", "Y", "Z")))
    lepton = np.stack([lep[name] for name in ("PT", "Eta", "Phi", "iso_charged", "iso_photon", "iso_neutral", "Charge", "is_electron")], axis=1)
    most = selected.size + sum(int(np.diff(flat.bounds)[selected].sum()) for flat in maps)  # rows before the caps
    out, momenta, n_particles = np.empty((most, len(LLF_NAMES)), dtype=np.float32), np.empty((3, most)), np.empty(selected.size, dtype=np.int32)
    rows = kernels.particle_rows(
        selected.astype(np.int64),
        tuple(flat.bounds for flat in maps),
        pt,
        eta,
        phi,
        tuple(threshold for _, _, threshold in MAPS.values()),
        (MAX_TRACKS, MAX_PHOTONS, MAX_NEUTRALS),
        tuple(np.ascontiguousarray(tracks[c], vertex) for c in ("X", "Y", "Z")),
        np.ascontiguousarray(tracks["PID"] if quirks.charge_from_pid else tracks["Charge"]),
        quirks.charge_from_pid,
        lepton,
        OWN_TRACK_DR2,
        not quirks.isolation_minus_one,
        quirks.isolation_minus_one,
        not quirks.phi_not_wrapped,
        CONE_RADIUS,
        EVENT_STRIDE,
        out,
        momenta,
        n_particles,
    )
    out = out[:rows]
    for column, values in enumerate(_momenta(*momenta[:, :rows])):
        out[:, column] = values
    return out, n_particles


def _particles(maps: IsolationMaps, indices: dict, selected: np.ndarray, lep: dict, quirks: Quirks):
    """The real rows of the original's 801x19 particle matrix of the ``selected`` events of the maps, in
    its order (lepton, tracks, photons, neutral hadrons; the zero rows after them are not stored), and
    the number of rows of each event. ``lep``: the isolated lepton of each selected event. The numpy
    reference of ``_compiled_particles``."""
    n = selected.size
    slot = np.full(maps.n_events, -1)
    slot[selected] = np.arange(n)  # each event's place among the selected ones

    # Tracks: all above 0.5 GeV except the lepton's own (dR <= 1e-4), first 450 in collection order.
    tracks = maps.tracks
    candidates = np.flatnonzero(slot[tracks.event] >= 0)
    mine = slot[tracks.event[candidates]]
    dphi = delta_phi(tracks["Phi"][candidates], lep["Phi"][mine])
    kept = candidates[(tracks["Eta"][candidates] - lep["Eta"][mine]) ** 2 + dphi**2 > OWN_TRACK_DR2]
    kept = kept[_rank(tracks.event[kept]) < MAX_TRACKS]
    photons = np.flatnonzero(slot[maps.photons.event] >= 0)
    photons = photons[_rank(maps.photons.event[photons]) < MAX_PHOTONS]
    neutrals = np.flatnonzero(slot[maps.neutrals.event] >= 0)
    neutrals = neutrals[_rank(maps.neutrals.event[neutrals]) < MAX_NEUTRALS]

    groups = {
        # name: (flat objects, pt, own index per map, one-hot column, charge, vertex)
        "tracks": (
            tracks.take(kept),
            tracks["PT"][kept],
            {"charged": kept},
            13,
            np.sign(tracks["PID"][kept]) if quirks.charge_from_pid else tracks["Charge"][kept],
            [tracks[c][kept] for c in ("X", "Y", "Z")],
        ),
        "photons": (maps.photons.take(photons), maps.photons["ET"][photons], {"photon": photons}, 15, 0.0, None),
        "neutrals": (maps.neutrals.take(neutrals), maps.neutrals["ET"][neutrals], {"neutral": neutrals}, 14, 0.0, None),
    }
    counts = {name: np.bincount(slot[group[0].event], minlength=n) for name, group in groups.items()}
    start = {"tracks": np.ones(n, dtype=np.int64)}
    start["photons"] = start["tracks"] + counts["tracks"]
    start["neutrals"] = start["photons"] + counts["photons"]
    n_particles = (start["neutrals"] + counts["neutrals"]).astype(np.int32)

    first_row = event_starts(n_particles)
    out = np.empty((int(n_particles.sum()), len(LLF_NAMES)), dtype=np.float32)
    iso = {"charged": lep["iso_charged"], "photon": lep["iso_photon"], "neutral": lep["iso_neutral"]}
    _fill(out, first_row, lep["PT"], lep["Eta"], lep["Phi"], None, iso, 16 + (1 - lep["is_electron"]).astype(np.int64), lep["Charge"])
    for name, (objects, pt, own, onehot, charge, vertex) in groups.items():
        iso = {}
        for kind, cone in indices.items():
            own_index = own.get(kind)
            minus_one = quirks.isolation_minus_one and own_index is not None
            sums = cone.sums(
                objects.event,
                objects["Eta"],
                objects["Phi"],
                own=None if quirks.isolation_minus_one or own_index is None else own_index,
                wrap_phi=not quirks.phi_not_wrapped,
            )
            iso[kind] = sums / pt - (1.0 if minus_one else 0.0)
        mine = slot[objects.event]
        position = first_row[mine] + start[name][mine] + _rank(objects.event)
        _fill(out, position, pt, objects["Eta"], objects["Phi"], vertex, iso, onehot, charge)
    return out, n_particles


def _momenta(pt, eta, phi) -> tuple:
    """Massless (E, px, py, pz) from (pT, eta, phi), as the original."""
    return pt * np.cosh(eta), pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)


def _fill(out, row, pt, eta, phi, vertex, iso, onehot, charge):
    """Write the 19 features of objects into their rows of the particle rows: each value computed in
    float64 and rounded once to float32 as it lands."""
    n = pt.size
    zeros = np.zeros(n)
    columns = (
        *_momenta(pt, eta, phi),
        pt,
        eta,
        phi,
        *((zeros,) * 3 if vertex is None else vertex),
        iso["charged"],
        iso["photon"],
        iso["neutral"],
        np.broadcast_to(charge, n),
    )
    values = np.zeros((n, len(LLF_NAMES)), dtype=out.dtype)
    values[:, VALUE_COLUMNS] = np.stack(columns, axis=1)
    values[np.arange(n), onehot] = 1.0
    out[row] = values


def read(path: str, entry_start: int, entry_stop: int, remote: dict | None = None) -> dict:
    """The branches the ingestion needs, by full name, as jagged records per collection."""
    return read_delphes(path, BRANCHES, entry_start, entry_stop, remote)
