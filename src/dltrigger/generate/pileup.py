"""Pileup: a pool of min-bias events generated once, overlaid on each event at displaced vertices."""

from __future__ import annotations

import os

import awkward as ak
import numpy as np

from ..core.files import atomic_path
from .events import final_state
from .processes import MINBIAS_CARD, make_pythia


def build_pool(path: str | os.PathLike, n_events: int, seed: int, sqrt_s_gev: float) -> None:
    """Generate ``n_events`` inelastic pp collisions and store their final-state particles as Parquet."""
    pythia = make_pythia(MINBIAS_CARD, seed, sqrt_s_gev)
    pool = final_state(pythia.nextBatch(n_events))
    with atomic_path(path) as temporary:
        ak.to_parquet(pool, temporary, compression="zstd")


def load_pool(path: str | os.PathLike) -> ak.Array:
    return ak.from_parquet(path)


def place_vertices(particles: ak.Array, pool: ak.Array | None, mu: float, sigma_z: float, sigma_xy: float, rng: np.random.Generator) -> ak.Array:
    """Move each event to a primary vertex drawn from the beam spot and add Poisson(mu) pool events,
    each at its own vertex (the pool is sampled with replacement)."""
    n_events = len(particles)
    shifted = _shift(particles, rng.normal(0, sigma_xy, n_events), rng.normal(0, sigma_xy, n_events), rng.normal(0, sigma_z, n_events))
    if mu <= 0 or pool is None:
        return shifted
    n_pileup = rng.poisson(mu, n_events)
    drawn = pool[rng.integers(0, len(pool), n_pileup.sum())]
    n_drawn = len(drawn)
    drawn = _shift(drawn, rng.normal(0, sigma_xy, n_drawn), rng.normal(0, sigma_xy, n_drawn), rng.normal(0, sigma_z, n_drawn))
    per_event = ak.flatten(ak.unflatten(drawn, n_pileup), axis=2)
    return ak.concatenate([shifted, per_event], axis=1)


def _shift(particles: ak.Array, dx, dy, dz) -> ak.Array:
    return ak.with_field(ak.with_field(ak.with_field(particles, particles.vx + dx, "vx"), particles.vy + dy, "vy"), particles.vz + dz, "vz")
