"""Whether two ways of generating a process give the same physics (e.g. with and without the leptonic-W
prescale, or with 50 and 200 redecays): the cross-section of the isolated-lepton selection, and the 14
HLF distributions of the selected events, from generated chunks (ROOT files and their metadata).

Copies of one generated event (redecays, replicas of a prescaled event) are not independent: the errors
and the two-sample Kolmogorov-Smirnov tests count each generated event once, with its copies' weight.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.schema import HLF_NAMES
from ..physics import observables
from ..physics.delphes import read_delphes


@dataclass
class SelectedSample:
    """The isolated-lepton events of some chunks: their HLF, the generated event each is a copy of (0 ...
    n-1), the cross-section each carries (pb), and the generator's error on the chunks' cross-section."""

    hlf: np.ndarray
    group: np.ndarray
    weight: np.ndarray
    generator_error_pb: float

    @classmethod
    def of(cls, chunks: list[tuple[str, dict]]) -> SelectedSample:
        """From (ROOT file, metadata) pairs of one process's chunks."""
        hlf, group, weight, generator_error = [], [], [], 0.0
        for index, (root, meta) in enumerate(chunks):
            events = read_delphes(root, observables.BRANCHES)
            result = observables.compute(events)
            numbers = np.asarray(events["Event"].Number[:, 0])[result["entry"]].astype(np.int64)
            hlf.append(result["hlf"])
            group.append(numbers + (index << 40))  # event numbers count within a chunk
            weight.append(np.full(numbers.size, meta["cross_section_pb"] / (meta["events_generated"] * meta["redecay_copies"])))
            # The generator's relative error on its cross-section, carried by this chunk's selected events.
            generator_error += (weight[-1].sum() * meta["cross_section_error_pb"] / meta["cross_section_pb"]) ** 2
        group = np.unique(np.concatenate(group), return_inverse=True)[1]
        return cls(np.concatenate(hlf), group, np.concatenate(weight), float(np.sqrt(generator_error)))

    def per_generated_event(self) -> np.ndarray:
        return np.bincount(self.group, weights=self.weight)

    @property
    def cross_section_pb(self) -> float:
        return float(self.weight.sum())

    @property
    def cross_section_error_pb(self) -> float:
        """Statistical (a generated event's copies counted together) and the generator's, in quadrature."""
        return float(np.hypot(np.sqrt((self.per_generated_event() ** 2).sum()), self.generator_error_pb))

    @property
    def effective_events(self) -> float:
        """Independent events the sample is worth: (sum w)^2 / sum w^2 over its generated events."""
        per_event = self.per_generated_event()
        return float(per_event.sum() ** 2 / (per_event**2).sum())


def _cumulative(values: np.ndarray, weights: np.ndarray, at: np.ndarray) -> np.ndarray:
    """The weighted empirical distribution function of ``values`` at the points ``at``."""
    order = np.argsort(values, kind="stable")
    summed = np.concatenate([[0.0], np.cumsum(weights[order])])
    return summed[np.searchsorted(values[order], at, side="right")] / summed[-1]


def weighted_ks(a: np.ndarray, wa: np.ndarray, na: float, b: np.ndarray, wb: np.ndarray, nb: float) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov statistic of weighted samples and its asymptotic p-value for ``na`` and
    ``nb`` independent events."""
    from scipy.stats import kstwobign

    pooled = np.concatenate([a, b])
    statistic = float(np.max(np.abs(_cumulative(a, wa, pooled) - _cumulative(b, wb, pooled))))
    return statistic, float(kstwobign.sf(statistic * np.sqrt(na * nb / (na + nb))))


def compare(reference: SelectedSample, other: SelectedSample) -> dict:
    """The selected cross-sections with their errors and their pull, the samples' independent events,
    and per HLF the KS statistic and p-value."""
    error = np.hypot(reference.cross_section_error_pb, other.cross_section_error_pb)
    n = (reference.effective_events, other.effective_events)
    return {
        "cross_section_pb": [reference.cross_section_pb, other.cross_section_pb],
        "cross_section_error_pb": [reference.cross_section_error_pb, other.cross_section_error_pb],
        "pull": float((other.cross_section_pb - reference.cross_section_pb) / error),
        "effective_events": list(n),
        "ks": {
            name: weighted_ks(reference.hlf[:, k], reference.weight, n[0], other.hlf[:, k], other.weight, n[1]) for k, name in enumerate(HLF_NAMES)
        },
    }
