"""An independent, deliberately plain per-event implementation of the selection and features, to check
the vectorized one against. Python loops over events and particles: for tests only."""

from __future__ import annotations

import math

CONE2 = 0.3**2


def _dphi(a, b, quirks):
    d = a - b
    if quirks:  # the original's wrapping at +-2 pi
        if d > 2 * math.pi:
            d -= 2 * math.pi
        elif d < -2 * math.pi:
            d += 2 * math.pi
        return d
    return (d + math.pi) % (2 * math.pi) - math.pi


def _iso(eta, phi, pt, objects, key, quirks, own=None):
    total = 0.0
    for index, other in enumerate(objects):
        if index == own and not quirks:
            continue
        if (eta - other["Eta"]) ** 2 + _dphi(phi, other["Phi"], quirks) ** 2 < CONE2:
            total += other[key]
    return total / pt - (1.0 if quirks and own is not None else 0.0)


def _finite(event):
    return all(math.isfinite(v) for objects in event.values() for obj in objects for v in obj.values() if isinstance(v, float))


def reference(event, quirks=False):
    """(hlf list of 14, llf rows list of 19-lists) of one event (dict of lists of dicts), or None."""
    if not _finite(event):
        return None
    tracks = [t for t in event["EFlowTrack"] if t["PT"] > 0.5]
    photons = [p for p in event["EFlowPhoton"] if p["ET"] > 1.0]
    neutrals = [n for n in event["EFlowNeutralHadron"] if n["ET"] > 1.0]
    if quirks and not (tracks and photons and neutrals):
        return None

    def own_track(lep):
        for index, track in enumerate(tracks):
            dphi = (lep["Eta"] - track["Eta"]) ** 2 + ((lep["Phi"] - track["Phi"] + math.pi) % (2 * math.pi) - math.pi) ** 2
            if dphi < 1e-8:
                return index
        return None

    found = {}
    for collection, is_ele in (("Electron", 1.0), ("MuonTight", 0.0)):
        best = None
        for lep in event[collection]:
            if lep["PT"] <= 23.0 or (not quirks and abs(lep["Eta"]) >= 2.5):
                continue
            # Corrected: the lepton's own track left out; original: "minus one" whether or not it is there.
            charged = _iso(lep["Eta"], lep["Phi"], lep["PT"], tracks, "PT", quirks, None if quirks else own_track(lep))
            iso = (
                charged - (1.0 if quirks else 0.0),
                _iso(lep["Eta"], lep["Phi"], lep["PT"], photons, "ET", quirks),
                _iso(lep["Eta"], lep["Phi"], lep["PT"], neutrals, "ET", quirks),
            )
            if sum(iso) >= 0.45:
                continue
            if best is None or (not quirks and lep["PT"] > best[0]["PT"]):
                best = (lep, iso, is_ele)
            if quirks:
                break
        if best:
            found[collection] = best
    if not found:
        return None
    if len(found) == 2:
        e, m = found["Electron"], found["MuonTight"]
        pick = e if ((e[0]["Eta"] > m[0]["Eta"]) if quirks else (e[0]["PT"] >= m[0]["PT"])) else m
    else:
        pick = next(iter(found.values()))
    lep, iso, is_ele = pick

    jets = [j for j in event["Jet"] if j["PT"] > 30.0 and abs(j["Eta"]) < 2.6]
    met, phi_met = event["MissingET"][0]["MET"], event["MissingET"][0]["Phi"]
    mt2 = 2 * met * lep["PT"] * (1 - math.cos(lep["Phi"] - phi_met))
    hlf = [
        sum(j["PT"] for j in jets),
        met,
        phi_met,
        mt2 if quirks else math.sqrt(mt2),
        len(jets),
        sum(1 for j in jets if j["BTag"] > 0),
        lep["PT"],
        lep["Eta"],
        lep["Phi"],
        *iso,
        lep["Charge"],
        is_ele,
    ]

    def row(pt, eta, phi, vertex, isos, onehot, charge):
        values = [pt * math.cosh(eta), pt * math.cos(phi), pt * math.sin(phi), pt * math.sinh(eta), pt, eta, phi, *vertex, *isos]
        values += [1.0 if onehot == k else 0.0 for k in range(13, 18)] + [charge]
        return values

    rows = [row(lep["PT"], lep["Eta"], lep["Phi"], (0, 0, 0), iso, 16 if is_ele else 17, lep["Charge"])]
    kept_tracks = [
        (i, t)
        for i, t in enumerate(tracks)
        if (t["Eta"] - lep["Eta"]) ** 2 + ((t["Phi"] - lep["Phi"] + math.pi) % (2 * math.pi) - math.pi) ** 2 > 1e-8
    ][:450]
    for i, t in kept_tracks:
        isos = (
            _iso(t["Eta"], t["Phi"], t["PT"], tracks, "PT", quirks, i),
            _iso(t["Eta"], t["Phi"], t["PT"], photons, "ET", quirks),
            _iso(t["Eta"], t["Phi"], t["PT"], neutrals, "ET", quirks),
        )
        charge = math.copysign(1.0, t["PID"]) if quirks else t["Charge"]
        rows.append(row(t["PT"], t["Eta"], t["Phi"], (t["X"], t["Y"], t["Z"]), isos, 13, charge))
    for objects, limit, onehot, own_map in ((photons, 150, 15, 1), (neutrals, 200, 14, 2)):
        for i, p in enumerate(objects[:limit]):
            isos = [
                _iso(p["Eta"], p["Phi"], p["ET"], tracks, "PT", quirks),
                _iso(p["Eta"], p["Phi"], p["ET"], photons, "ET", quirks, i if own_map == 1 else None),
                _iso(p["Eta"], p["Phi"], p["ET"], neutrals, "ET", quirks, i if own_map == 2 else None),
            ]
            rows.append(row(p["ET"], p["Eta"], p["Phi"], (0, 0, 0), isos, onehot, 0.0))
    return hlf, rows


# --------------------------------------------------------------------------------------------------
# The GRU input as the workflow built it before particle rows were stored ragged: the whole zero-padded
# 801x19 matrix per event (real rows first). Kept verbatim so that the ragged layout can be checked
# against it bit for bit.
# --------------------------------------------------------------------------------------------------
N_ROWS, ETA, PHI = 801, 5, 6


def padded_gru_input(llf, n_particles, quirks, scaling, mean=None, std=None):
    import numpy as np

    n = n_particles.size
    real = np.arange(N_ROWS)[None, :] < n_particles[:, None]
    rows = llf[real]
    event = np.repeat(np.arange(n), n_particles)
    if scaling == "per_event":
        mean, std = _padded_moments_per_event(rows, event, n_particles)
        offset, scale = mean[event], std[event]
    else:
        offset, scale = mean, np.where(std > 0, std, 1.0)
    scaled = ((rows - offset) / scale).astype(np.float32)
    padding = (-mean / std).astype(np.float32)[:, None, :] if scaling == "per_event" else np.float32(0.0)

    lepton = llf[:, 0]
    if quirks:  # every row of the matrix takes part in the sort
        distance = _padded_distance(llf[:, :, ETA], llf[:, :, PHI], lepton[:, None, ETA], lepton[:, None, PHI])
        dense = np.empty_like(llf)
        dense[:] = padding
        dense[real] = scaled
        order = np.argsort(-distance, axis=1, kind="stable")
        return np.take_along_axis(dense, order[:, :, None], axis=1)
    distance = _padded_distance(rows[:, ETA], rows[:, PHI], lepton[event, ETA], lepton[event, PHI])
    out = np.empty_like(llf)
    out[:] = padding
    out[real] = scaled[np.lexsort((-distance, event))]
    return out


def _padded_distance(eta, phi, lepton_eta, lepton_phi):
    import numpy as np

    dphi = (phi - lepton_phi + np.pi) % (2 * np.pi) - np.pi
    return np.sqrt((eta - lepton_eta) ** 2 + dphi**2)


def _padded_moments_per_event(rows, event, n_particles):
    import numpy as np

    rows = rows.astype(np.float64)
    starts = np.concatenate([[0], np.cumsum(n_particles)[:-1]])
    mean = np.add.reduceat(rows, starts, axis=0) / N_ROWS
    squares = np.add.reduceat((rows - mean[event]) ** 2, starts, axis=0) + (N_ROWS - n_particles)[:, None] * mean**2
    std = np.sqrt(squares / N_ROWS)
    return mean, np.where(std > 0, std, 1.0)
