"""Statistics the stages share: the binomial uncertainty of an efficiency."""

from __future__ import annotations

import numpy as np


def binomial_error(passed, total):
    """The binomial standard error of the efficiency passed/total (0 where nothing was counted)."""
    passed, total = np.asarray(passed, dtype=np.float64), np.asarray(total, dtype=np.float64)
    return np.sqrt(passed * (total - passed) / np.maximum(total, 1.0) ** 3)
