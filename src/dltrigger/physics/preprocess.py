"""What turns an event's observables into a classifier's inputs, shared by the feature preparation
(which fits the scalers on the training set) and the trigger (which applies them to streamed events):
the particle rows sorted by dR to the lepton and scaled, the HLF min-max scaled, and the sequences a
network reads."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields, replace

import numpy as np

from ..core.arrays import dense_sequences, event_starts
from ..core.errors import InputError
from ..core.files import read_json, write_json
from ..core.schema import HLF_NAMES, LLF_NAMES, N_ROWS
from .kernels import lexsort_within_events
from .kinematics import delta_phi
from .quirks import Quirks

ETA, PHI = LLF_NAMES.index("Eta"), LLF_NAMES.index("Phi")


@dataclass(frozen=True)
class Preprocessing:
    """How an event's observables become a classifier's inputs: the modes the configuration chose and the
    numbers fitted on the training events. Feature preparation writes it once (``preprocessing.json``);
    the training (models that undo the particle scaling), the export and the trigger read it."""

    quirks: Quirks
    particle_scaling: str  # global (the training rows' mean and std below) or per_event
    padding: str  # where the padding rows go: after, before or by_distance
    hlf_scaling: str = "min_max"  # or none
    hlf_min: tuple[float, ...] | None = None  # per HLF, fitted on the training events
    hlf_max: tuple[float, ...] | None = None
    particle_mean: tuple[float, ...] | None = None  # per particle feature, over the training events' real rows (global scaling)
    particle_std: tuple[float, ...] | None = None

    @classmethod
    def of_settings(cls, features: dict) -> Preprocessing:
        """The modes of the configuration's ``features`` section, nothing fitted yet."""
        return cls(Quirks.of(features["original_quirks"]), features["particle_scaling"], features["padding"], features["hlf_scaling"])

    def fitted(self, hlf_min=None, hlf_max=None, particle_mean=None, particle_std=None) -> Preprocessing:
        """A copy with the numbers given (arrays) filled in; the rest kept."""
        numbers = {"hlf_min": hlf_min, "hlf_max": hlf_max, "particle_mean": particle_mean, "particle_std": particle_std}
        return replace(self, **{key: tuple(float(x) for x in value) for key, value in numbers.items() if value is not None})

    @property
    def particle_moments(self) -> dict | None:
        """The global particle scaling's mean and std (lists), which a model that computes from the
        unscaled momenta undoes; none under per-event scaling."""
        if self.particle_scaling != "global" or self.particle_mean is None:
            return None
        return {"mean": list(self.particle_mean), "std": list(self.particle_std)}

    def sequences(self, rows: np.ndarray, n_particles: np.ndarray):
        """``particle_sequences`` of a batch of events with these modes and moments."""
        mean, std = (None if value is None else np.asarray(value) for value in (self.particle_mean, self.particle_std))
        return particle_sequences(rows, n_particles, self.quirks, self.particle_scaling, self.padding, mean, std)

    def scale_hlf(self, hlf: np.ndarray) -> np.ndarray:
        return scale_hlf(hlf, self.hlf_scaling, self.hlf_min, self.hlf_max)

    def to_json(self) -> dict:
        return {**asdict(self), "hlf_names": list(HLF_NAMES), "particle_names": list(LLF_NAMES)}

    @classmethod
    def from_json(cls, data: dict, source: str) -> Preprocessing:
        """From ``to_json``'s dict; a missing key, or features named otherwise than this version's, is
        named in one line with ``source``."""
        names = [field.name for field in fields(cls)]
        missing = [name for name in names if name not in data]
        if missing:
            raise InputError(f"{source}: preprocessing lacks '{missing[0]}'")
        for key, expected in (("hlf_names", HLF_NAMES), ("particle_names", LLF_NAMES)):
            if data.get(key) != list(expected):
                raise InputError(f"{source}: preprocessing's {key} differ from this version's ({', '.join(expected)})")
        values = {name: tuple(data[name]) if isinstance(data[name], list) else data[name] for name in names}
        return cls(**dict(values, quirks=Quirks(**data["quirks"])))

    def write(self, path: str | os.PathLike) -> None:
        write_json(path, self.to_json())

    @classmethod
    def read(cls, path: str | os.PathLike) -> Preprocessing:
        if not os.path.isfile(path):
            raise InputError(f"{path}: no such preprocessing file (written by the feature preparation)")
        return cls.from_json(read_json(path), str(path))


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
    ordered = scaled[lexsort_within_events(-distance, event)]  # a stable sort: ties keep their ingested order
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
