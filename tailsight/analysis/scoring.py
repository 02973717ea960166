"""From evidence strength and blast-radius fit to a score in 0..1.

``strength`` is how far the evidence moved, on a scale where 1 is a clear change (an
8x rise of a congestion counter, a neighbor taking 17 % of a GPU, a 1.3x request
rate); ``1 - exp(-strength)`` maps it to 0..1 with diminishing returns. ``fit`` is how
well the candidate's reach matches the replicas that got slow: a switch port that
serves only the slow replicas fits 1, one that serves none of them fits 0. The
product was checked against the simulator corpus (``bench/rca_eval.py`` prints the
share of correct top causes per score band).
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass

import numpy as np


def sig(rise: float, full_at: float = 8.0) -> float:
    """Strength of a rise ratio: 0 at no rise, 1 at ``full_at`` times, capped at 2."""
    if not np.isfinite(rise) or rise <= 1.0:
        return 0.0
    return float(min(2.0, math.log(rise) / math.log(full_at)))


@dataclass(frozen=True)
class BlastRadius:
    """Which replicas got slow, out of those seen."""

    slow: frozenset[str]
    seen: frozenset[str]

    def fit(self, reach: Collection[str]) -> float:
        """How well a candidate reaching ``reach`` replicas explains the slow ones."""
        if not self.slow:
            return 0.5 if reach else 0.0
        reach_set = set(reach) & set(self.seen) if self.seen else set(reach)
        if not reach_set:
            return 0.0
        covered = len(reach_set & self.slow) / len(self.slow)
        precise = len(reach_set & self.slow) / len(reach_set)
        return covered * (0.6 + 0.4 * precise)


def score(strength: float, fit: float) -> float:
    """A score in 0..1."""
    return float(max(0.0, min(1.0, (1.0 - math.exp(-max(0.0, strength))) * fit)))
