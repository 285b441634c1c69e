"""Statistics the stages share: the binomial uncertainty of an efficiency, and a trigger's output rate."""

from __future__ import annotations

import numpy as np


def binomial_error(passed, total):
    """The binomial standard error of the efficiency passed/total (0 where nothing was counted)."""
    passed, total = np.asarray(passed, dtype=np.float64), np.asarray(total, dtype=np.float64)
    return np.sqrt(passed * (total - passed) / np.maximum(total, 1.0) ** 3)


def output_rate(class_rates, passed, total) -> tuple[float, float]:
    """A trigger's output rate (Hz): each class's rate into it times the fraction of its events accepted
    (``passed`` of ``total`` per class), and the rate's binomial uncertainty."""
    rates = np.asarray(class_rates, dtype=np.float64)
    efficiency = np.asarray(passed, dtype=np.float64) / np.maximum(np.asarray(total, dtype=np.float64), 1.0)
    return float(rates @ efficiency), float(np.hypot.reduce(rates * binomial_error(passed, total)))
