"""Pythia output as flat, columnar particle lists; the generator-level lepton filter; heavy-flavour redecay.

Everything works on whole batches (awkward arrays and flat numpy arrays with offsets): no Python loop
runs over events or particles.
"""

from __future__ import annotations

from dataclasses import dataclass

import awkward as ak
import numpy as np

from ..physics.cones import ConeIndex
from ..physics.kinematics import isin, pt_eta_phi
from .processes import COPIES_ENTRY, WEAK_B_HADRONS, WEAK_HF_HADRONS, make_pythia

INVISIBLE_IDS = (12, 14, 16)
CHARGED_LEPTONS = (11, 13)
FIELDS = ("id", "px", "py", "pz", "e", "vx", "vy", "vz")


def final_state(batch) -> ak.Array:
    """Final-state particles of a ``Pythia.nextBatch`` result: id, four-momentum (GeV), production vertex (mm)."""
    prt = batch.prt[batch.prt.status > 0]
    vertex = prt.vProd  # None where Pythia set no vertex: the particle comes from the collision point
    return ak.zip(
        {
            "id": prt.id,
            "px": prt.p.px,
            "py": prt.p.py,
            "pz": prt.p.pz,
            "e": prt.p.e,
            "vx": ak.fill_none(vertex.px, 0.0),
            "vy": ak.fill_none(vertex.py, 0.0),
            "vz": ak.fill_none(vertex.pz, 0.0),
        }
    )


def times_to_write(batch) -> np.ndarray:
    """How many times each event of a batch is written, as a process-level hook tagged it
    (``LeptonicWPrescale``: 1, or its prescale)."""
    return ak.to_numpy(batch.prt.pol[:, COPIES_ENTRY]).astype(np.int64)


def heavy_flavour_truth(batch) -> ak.Array:
    """Weakly decaying b and c hadrons of each event (pt, eta, phi, flavour 5 or 4), for b-tagging."""
    prt = batch.prt[isin(np.abs(batch.prt.id), WEAK_HF_HADRONS)]
    pt, eta, phi = pt_eta_phi(prt.p.px, prt.p.py, prt.p.pz)
    flavour = ak.where(isin(np.abs(prt.id), WEAK_B_HADRONS), 5, 4)
    return ak.zip({"pt": pt, "eta": eta, "phi": phi, "flavour": flavour})


def lepton_candidates(particles: ak.Array, pt_min: float, eta_max: float) -> np.ndarray:
    """Events with a final-state e or mu above ``pt_min`` within |eta| < ``eta_max``: the lepton filter's
    necessary condition, without the isolation."""
    pt, eta, _ = pt_eta_phi(particles.px, particles.py, particles.pz)
    return ak.to_numpy(ak.any(isin(np.abs(particles.id), CHARGED_LEPTONS) & (pt > pt_min) & (np.abs(eta) < eta_max), axis=1))


def lepton_isolation(particles: ak.Array, pt_min: float, eta_max: float) -> np.ndarray:
    """The lowest relative isolation (visible particles with pT > 0.5 GeV within dR < 0.3) of each event's
    final-state e or mu above ``pt_min`` within |eta| < ``eta_max``; infinite where there is none."""
    event = np.repeat(np.arange(len(particles)), ak.to_numpy(ak.num(particles)))
    flat = {name: ak.to_numpy(ak.flatten(particles[name])) for name in ("id", "px", "py", "pz")}
    pt, eta, phi = pt_eta_phi(flat["px"], flat["py"], flat["pz"])
    abs_id = np.abs(flat["id"])
    leptons = np.flatnonzero(np.isin(abs_id, CHARGED_LEPTONS) & (pt > pt_min) & (np.abs(eta) < eta_max))
    is_visible = ~np.isin(abs_id, INVISIBLE_IDS) & (pt > 0.5)
    visible = np.flatnonzero(is_visible)
    # The numpy sums: a handful of leptons per event query them, and loading the compiled kernels would cost
    # each generation job ~1 s (measured: the default run's generation 29 job-s longer with them).
    cone = ConeIndex(event[visible], eta[visible], phi[visible], pt[visible])
    own = np.where(is_visible[leptons], np.searchsorted(visible, leptons), -1)  # the lepton itself
    isolation = np.full(len(particles), np.inf)
    np.minimum.at(isolation, event[leptons], cone.sums(event[leptons], eta[leptons], phi[leptons], own=own) / pt[leptons])
    return isolation


def times_through_filter(isolation: np.ndarray, cut: dict, rng: np.random.Generator) -> np.ndarray:
    """How many times each event leaves the generator-level lepton filter (``cut``: generate.lepton_filter;
    ``isolation``: ``lepton_isolation``'s): 0, 1, or, for events whose isolation lies between
    ``prescaled_above`` and ``relative_isolation_max`` (where the trigger rarely, but not never, accepts
    one), ``prescale`` for one in ``prescale`` of them (identical copies of one detector simulation) and 0
    for the others: the sample is the unfiltered one in expectation. The filter is looser than the
    isolated-lepton trigger (pT > 23 GeV, reco isolation < 0.45): it drops events that cannot pass the
    trigger and keeps those near the thresholds that the detector's smearing may promote."""
    iso_max = np.inf if cut["relative_isolation_max"] is None else cut["relative_isolation_max"]
    times = (isolation < iso_max).astype(np.int64)
    if cut["prescaled_above"] is not None:
        band = np.flatnonzero(times.astype(bool) & (isolation >= cut["prescaled_above"]))
        times[band] = np.where(rng.random(band.size) < 1.0 / cut["prescale"], cut["prescale"], 0)
    return times


@dataclass
class DecayLibrary:
    """Decays at rest of the weakly decaying heavy-flavour hadrons, as flat arrays with offsets (CSR).

    ``decay_offsets[k]:decay_offsets[k+1]`` are the final-state products of decay ``k``; the decays of
    hadron species ``species[s]`` are ``k = s * per_species ... (s + 1) * per_species - 1``. Vertices are
    the 4-positions (x, y, z, t in mm) relative to the hadron, with its own flight time included.
    ``has_lepton[k]``: decay ``k`` has an electron or muon among its products.
    """

    species: np.ndarray
    per_species: int
    decay_offsets: np.ndarray
    products: dict
    has_lepton: np.ndarray

    @classmethod
    def build(cls, seed: int, per_species: int) -> DecayLibrary:
        """One Pythia event per species holding ``per_species`` hadrons at rest, all decayed by Pythia."""
        species = np.array(sorted({sign * h for h in WEAK_HF_HADRONS for sign in (1, -1)}), dtype=np.int64)
        pythia = make_pythia((), seed, 0.0, process_level=False)
        columns = {name: [] for name in (*FIELDS, "t")}
        counts = []
        for pdg_id in species:  # ~30 species, each decayed as one batch of hadrons
            event = pythia.event
            event.reset()
            mass = pythia.particleData.m0(int(pdg_id))
            for _ in range(per_species):  # filling the input record; the decays themselves run in Pythia
                event.append(int(pdg_id), 81, 0, 0, 0.0, 0.0, 0.0, mass, mass)
            prt = pythia.nextBatch(1).prt[0]
            mother = ak.to_numpy(prt.mother1)
            final = np.flatnonzero(ak.to_numpy(prt.status) > 0)
            root = mother[final]
            while np.any(root > per_species):  # climb decay chains to the hadron (entries 1..per_species)
                root = np.where(root > per_species, mother[root], root)
            order = np.argsort(root, kind="stable")
            final, root = final[order], root[order]
            counts.append(np.bincount(root - 1, minlength=per_species))
            vertex = prt.vProd[final]
            values = {
                "id": prt.id[final],
                "px": prt.p.px[final],
                "py": prt.p.py[final],
                "pz": prt.p.pz[final],
                "e": prt.p.e[final],
                "vx": ak.fill_none(vertex.px, 0.0),
                "vy": ak.fill_none(vertex.py, 0.0),
                "vz": ak.fill_none(vertex.pz, 0.0),
                "t": ak.fill_none(vertex.e, 0.0),
            }
            for name, column in values.items():
                columns[name].append(ak.to_numpy(column))
        decay_offsets = np.concatenate([[0], np.cumsum(np.concatenate(counts))])
        products = {name: np.concatenate(parts) for name, parts in columns.items()}
        lepton_products = np.isin(np.abs(products["id"]), CHARGED_LEPTONS)
        has_lepton = np.add.reduceat(lepton_products, decay_offsets[:-1]) > 0
        return cls(species=species, per_species=per_species, decay_offsets=decay_offsets, products=products, has_lepton=has_lepton)

    def choose(self, hadron_ids: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A decay of the library for each hadron (by its PDG id), drawn uniformly among its species'."""
        species_index = np.searchsorted(self.species, hadron_ids)
        return species_index * self.per_species + rng.integers(0, self.per_species, size=species_index.size)

    def decay(self, hadrons: dict, chosen: np.ndarray, quaternions: np.ndarray) -> tuple[np.ndarray, dict]:
        """The library decays ``chosen`` of the given hadrons (flat arrays id, px, py, pz, e, vx, vy, vz),
        each rotated by its (normalised) quaternion and boosted to its hadron's momentum. Returns the index
        of the hadron each product belongs to (products grouped by hadron, in order), and the products'
        columns in the lab frame."""
        owner = np.repeat(np.arange(chosen.size), np.diff(self.decay_offsets)[chosen])
        lib = {name: column[_ragged_take(self.decay_offsets, chosen)] for name, column in self.products.items()}

        rotation = _rotations(quaternions)[owner]
        momentum = np.einsum("nij,nj->ni", rotation, np.stack([lib["px"], lib["py"], lib["pz"]], axis=1))
        position = np.einsum("nij,nj->ni", rotation, np.stack([lib["vx"], lib["vy"], lib["vz"]], axis=1))
        hadron_p = np.stack([hadrons["px"], hadrons["py"], hadrons["pz"]], axis=1)[owner]
        hadron_e = hadrons["e"][owner]
        energy, momentum = _boost(lib["e"], momentum, hadron_e, hadron_p)
        _, position = _boost(lib["t"], position, hadron_e, hadron_p)
        lab = {
            "id": lib["id"],
            "px": momentum[:, 0],
            "py": momentum[:, 1],
            "pz": momentum[:, 2],
            "e": energy,
            "vx": hadrons["vx"][owner] + position[:, 0],
            "vy": hadrons["vy"][owner] + position[:, 1],
            "vz": hadrons["vz"][owner] + position[:, 2],
        }
        return owner, lab


def _rotations(quaternions: np.ndarray) -> np.ndarray:
    """The rotation matrices of (n, 4) quaternions, normalised here: Gaussian ones give rotations uniform
    in SO(3)."""
    q = quaternions / np.linalg.norm(quaternions, axis=1, keepdims=True)
    w, x, y, z = q.T
    return np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], axis=1),
            np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], axis=1),
            np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], axis=1),
        ],
        axis=1,
    )


def _boost(t, vec, frame_e, frame_p):
    """Lorentz-boost four-vectors (t, vec) from the rest frame of a body with four-momentum (frame_e, frame_p)."""
    beta = frame_p / frame_e[:, None]
    beta2 = np.sum(beta * beta, axis=1)
    gamma = 1.0 / np.sqrt(np.maximum(1.0 - beta2, 1e-300))
    beta_dot = np.sum(beta * vec, axis=1)
    factor = np.where(beta2 > 0, (gamma - 1.0) * beta_dot / np.where(beta2 > 0, beta2, 1.0), 0.0)
    vec_lab = vec + (factor + gamma * t)[:, None] * beta
    return gamma * (t + beta_dot), vec_lab


def redecay_copies(
    particles: ak.Array,
    library: DecayLibrary,
    copies: int,
    rng: np.random.Generator,
    lepton_pt_min: float,
    lepton_eta_max: float,
):
    """ReDecay enrichment: ``copies`` versions of every event, each with freshly drawn heavy-flavour decays.

    ``particles`` hold the weakly decaying b/c hadrons undecayed. Every copy is a correctly distributed
    event; copies of one event share everything but the heavy-flavour decays. Only copies holding an e or
    mu above ``lepton_pt_min`` within ``lepton_eta_max`` (the lepton filter's necessary condition) are
    assembled, the others are counted but never built: every copy draws its decays and their rotations,
    but only the decays with a lepton among their products are boosted to find the candidates, and only
    the candidates' decays are built whole. Returns (event index of each assembled copy, its particles
    with the hadrons replaced by their decay products).
    """
    n_events = len(particles)
    is_hf = isin(np.abs(particles.id), WEAK_HF_HADRONS)
    fixed = particles[~is_hf]
    hadrons = particles[is_hf]
    hadrons_per_event = ak.to_numpy(ak.num(hadrons))
    flat_hadrons = {name: ak.to_numpy(ak.flatten(hadrons[name])) for name in FIELDS}
    # A (copy, hadron) pair for each hadron of each copy, copy-major.
    copy_of_event = np.repeat(np.arange(n_events), copies)
    hadron_of_pair = _ragged_take(np.concatenate([[0], np.cumsum(hadrons_per_event)]), copy_of_event)
    copy_of_pair = np.repeat(np.arange(copy_of_event.size), hadrons_per_event[copy_of_event])
    chosen = library.choose(flat_hadrons["id"][hadron_of_pair], rng)
    quaternions = rng.normal(size=(chosen.size, 4))

    def decayed(pairs):
        owner, products = library.decay(
            {name: column[hadron_of_pair[pairs]] for name, column in flat_hadrons.items()}, chosen[pairs], quaternions[pairs]
        )
        return pairs[owner], products

    with_lepton, products = decayed(np.flatnonzero(library.has_lepton[chosen]))
    pt, eta, _ = pt_eta_phi(products["px"], products["py"], products["pz"])
    candidate = np.isin(np.abs(products["id"]), CHARGED_LEPTONS) & (pt > lepton_pt_min) & (np.abs(eta) < lepton_eta_max)
    assembled = lepton_candidates(fixed, lepton_pt_min, lepton_eta_max)[copy_of_event]
    assembled[copy_of_pair[with_lepton[candidate]]] = True
    kept = np.flatnonzero(assembled)
    pair_of_product, products = decayed(np.flatnonzero(assembled[copy_of_pair]))
    counts = np.bincount(copy_of_pair[pair_of_product], minlength=copy_of_event.size)[kept]
    return copy_of_event[kept], ak.concatenate([fixed[copy_of_event[kept]], ak.unflatten(ak.zip(products), counts)], axis=1)


def _ragged_take(offsets: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Flat indices of all elements of the given rows of a CSR layout, row after row."""
    counts = offsets[rows + 1] - offsets[rows]
    return np.repeat(offsets[rows] - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())
