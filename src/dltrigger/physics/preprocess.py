"""What turns an event's observables into a classifier's inputs, shared by the feature preparation
(which fits the scalers on the training set) and the trigger (which applies them to streamed events):
the particle rows sorted by dR to the lepton and scaled, the HLF min-max scaled, and the sequences a
network reads."""

from __future__ import annotations

import numpy as np

from ..core.arrays import dense_sequences, event_starts
from ..core.schema import LLF_NAMES, N_ROWS
from .kinematics import delta_phi
from .quirks import Quirks

ETA, PHI = LLF_NAMES.index("Eta"), LLF_NAMES.index("Phi")


def particle_sequences(rows: np.ndarray, n_particles: np.ndarray, quirks: Quirks, scaling: str, padding: str, mean=None, std=None):
    """The GRU input of a batch of events, from their real particle rows (grouped by event, the lepton
    first): rows sorted by decreasing dR to the lepton (so the lepton comes last) and scaled, per event
    the value of its padding rows and where their block starts in the 801-row sequence
    (``arrays.dense_sequences`` builds the sequences from these, bit for bit as the original's matrix).

    Per-event scaling: each event's 19 columns standardised over all its 801 rows (sklearn's
    StandardScaler per event: population std, constant columns scaled by 1), so padding rows become a
    non-zero constant row (-mean/std) and masking has no effect. Global scaling (``mean``, ``std`` of
    the training set's real rows): padding rows stay zero (maskable).
    Padding block: ``after`` the real rows, ``before`` them, or ``by_distance``: sorted with the particles
    by their dR to the lepton as zero rows (eta = phi = 0) were in the original (always with
    ``quirks.padding_sorted_with_particles``).
    Returns (rows (total, 19) float32, padding_row (n, 19) float32, padding_at (n,) int32).
    """
    n = n_particles.size
    event = np.repeat(np.arange(n), n_particles)
    if scaling == "per_event":
        mean, std = _moments_per_event(rows, event, n_particles)
        offset, scale = mean[event], std[event]
        padding_row = (-mean / std).astype(np.float32)
    else:
        offset, scale = mean, np.where(std > 0, std, 1.0)
        padding_row = np.zeros((n, len(LLF_NAMES)), dtype=np.float32)
    scaled = ((rows - offset) / scale).astype(np.float32)

    lepton = rows[event_starts(n_particles)]
    distance = _distance(rows[:, ETA], rows[:, PHI], lepton[event, ETA], lepton[event, PHI])
    ordered = scaled[np.lexsort((-distance, event))]  # lexsort is stable: ties keep their ingested order
    if quirks.padding_sorted_with_particles or padding == "by_distance":
        # Zero rows sit at (0, 0): the stable sort puts them after every real row at least as far away.
        zero = np.zeros(n, dtype=rows.dtype)
        padding_distance = _distance(zero, zero, lepton[:, ETA], lepton[:, PHI])
        padding_at = np.bincount(event, weights=distance >= padding_distance[event], minlength=n)
    else:
        padding_at = np.zeros(n) if padding == "before" else n_particles
    return ordered, padding_row, padding_at.astype(np.int32)


def _distance(eta, phi, lepton_eta, lepton_phi) -> np.ndarray:
    return np.sqrt((eta - lepton_eta) ** 2 + delta_phi(phi, lepton_phi) ** 2)


def _moments_per_event(rows: np.ndarray, event: np.ndarray, n_particles: np.ndarray):
    """Mean and std (1 where constant) of each event's columns over all 801 rows, from its real rows:
    padding rows are zeros. Two-pass in float64, as numpy's own std."""
    rows = rows.astype(np.float64)
    starts = event_starts(n_particles)
    mean = np.add.reduceat(rows, starts, axis=0) / N_ROWS
    squares = np.add.reduceat((rows - mean[event]) ** 2, starts, axis=0) + (N_ROWS - n_particles)[:, None] * mean**2
    std = np.sqrt(squares / N_ROWS)
    return mean, np.where(std > 0, std, 1.0)


def scale_hlf(hlf: np.ndarray, scaling: str, hlf_min, hlf_max) -> np.ndarray:
    """Spark ML MinMaxScaler's formula, to [0, 1]; constant features map to 0.5 as in Spark ML (or the
    HLF as they are, ``scaling: none``)."""
    if scaling == "none":
        return hlf.astype(np.float32)
    span = np.asarray(hlf_max) - np.asarray(hlf_min)
    return np.where(span > 0, (hlf - hlf_min) / np.where(span > 0, span, 1.0), 0.5).astype(np.float32)


def network_sequences(rows: np.ndarray, counts: np.ndarray, padding_row: np.ndarray, padding_at: np.ndarray, every_row: bool) -> np.ndarray:
    """The (n, steps, 19) sequences a network reads from ragged, prepared rows: with zero padding, each
    event's real rows first and only as many steps as the longest event has (the recurrent and
    particle-cloud branches skip zero rows); otherwise, or for a model that reads ``every_row`` in its
    place, all 801 rows with the padding block where the preparation put it."""
    if not every_row and not padding_row.any():
        return dense_sequences(rows, counts, padding_row, counts, int(counts.max(initial=1)))
    return dense_sequences(rows, counts, padding_row, padding_at, N_ROWS)
