"""Score distributions: the reference a bundle records at training, and the population stability
index (PSI) that compares live scores with it.

Ten equal-width bins over [0, 1]. The reference is the model's scores on its held-out split
(tickets it did not train on). PSI = sum((live - ref) * ln(live / ref)) over the bins, with empty
bins smoothed; by the usual reading, under 0.1 is stable, 0.1 to 0.25 a shift worth a look, over
0.25 a population the model was not trained for.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

BINS = 10
SMOOTHING = 1e-4


def shares(scores: np.ndarray) -> list[float]:
    """The share of ``scores`` in each of the ten bins (a score of 1.0 falls in the last)."""
    counts = np.bincount(np.minimum((np.asarray(scores) * BINS).astype(int), BINS - 1), minlength=BINS)
    total = max(int(counts.sum()), 1)
    return [round(float(c) / total, 6) for c in counts]


def psi(reference: Sequence[float], live: Sequence[float]) -> float:
    """Population stability index of ``live`` against ``reference`` (both shares per bin)."""
    total = 0.0
    for r, x in zip(reference, live, strict=True):
        r, x = max(r, SMOOTHING), max(x, SMOOTHING)
        total += (x - r) * math.log(x / r)
    return round(total, 4)
