"""Fitting the cause-score calibration from labelled causes (scikit-learn's isotonic regression).

Only the refit (``bench/fit_calibration.py``) imports this module: the analysis applies
the fitted breakpoints with ``np.interp`` and never loads scikit-learn.

Why isotonic: the raw score already ranks causes (a higher raw score is right at least
as often), so the map needs only to be monotone, not of a given shape; logistic
(Platt) calibration assumes a sigmoid the corpus does not follow (raw 0.3 causes were
as right as raw 0.9 ones). Each fitted step is shrunk towards 1/2 by one right and one
wrong pseudo-sample (Laplace), so a step of three right causes says 0.8, not a
certainty that held-out seeds would break.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import sklearn
from sklearn.isotonic import IsotonicRegression

from tailsight.analysis.calibration import POOLED, Breakpoints, Calibration

MIN_KIND_SAMPLES = 40  # fewer causes of a kind (or only right or only wrong ones): pooled map
BREAK_EVEN = 0.5  # naming a right cause gains what naming a wrong one costs


@dataclass(frozen=True)
class Sample:
    """One candidate cause of one incident, labelled against the truth."""

    incident: str  # groups the causes of one incident (the threshold looks at its top one)
    kind: str
    raw: float
    right: bool


def fit_map(raw: Sequence[float], right: Sequence[bool]) -> Breakpoints:
    """The isotonic map of ``right`` on ``raw``, each step shrunk by a Laplace prior.

    One wrong pseudo-cause at raw 0 anchors the low end (no evidence is never right):
    without it a corpus whose causes all scored 0.3 or more would map raw 0.05 to the
    same probability as raw 0.3.
    """
    if len(raw) == 0:
        raise ValueError("no samples to fit a calibration map on")
    x = np.asarray([0.0, *raw], dtype=float)
    y = np.asarray([False, *right], dtype=float)
    iso = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip")
    fitted = iso.fit(x, y).predict(x)
    # The steps: runs of samples (in raw order) sharing one fitted value.
    order = np.argsort(x, kind="stable")
    xs, fs, ys = x[order], fitted[order], y[order]
    cuts = np.flatnonzero(np.diff(fs) != 0) + 1
    steps = [
        (float(a[0]), float(a[-1]), len(b), float(b.sum()))
        for a, b in zip(np.split(xs, cuts), np.split(ys, cuts), strict=True)
    ]
    shrunk = np.array([(k + 1.0) / (n + 2.0) for _, _, n, k in steps])
    weights = np.array([n for _, _, n, _ in steps], dtype=float)
    # Shrinking moves small steps more than big ones, which may break the order: re-fit.
    smooth = IsotonicRegression(increasing=True).fit_transform(
        np.arange(len(steps), dtype=float), shrunk, sample_weight=weights
    )
    points: list[tuple[float, float]] = []
    for (lo, hi, _, _), p in zip(steps, smooth, strict=True):
        points.append((lo, float(p)))
        if hi > lo:
            points.append((hi, float(p)))
    return _compact(points)


def _compact(points: list[tuple[float, float]]) -> Breakpoints:
    """Rounded breakpoints, without the middle ones of a flat run (same map, shorter file)."""
    rounded = [(round(x, 4), round(p, 4)) for x, p in points]
    kept: list[tuple[float, float]] = []
    for i, (x, p) in enumerate(rounded):
        if kept and x == kept[-1][0]:
            kept[-1] = (x, max(p, kept[-1][1]))
            continue
        inner = 0 < i < len(rounded) - 1
        if inner and kept and rounded[i + 1][1] == p == kept[-1][1]:
            continue
        kept.append((x, p))
    return Breakpoints(tuple(x for x, _ in kept), tuple(p for _, p in kept))


def choose_threshold(samples: Sequence[Sample], calibration: Calibration) -> float:
    """The calibrated score under which naming an incident's top cause costs more than it gains.

    Naming a right top cause gains 1, a wrong one costs 1, ``unknown`` neither: with
    calibrated scores 0.5 is the break-even in expectation. Over the corpus's incidents
    the threshold is the lowest of 0.5 and the top causes' scores above it that maximises
    the total: the corpus raises it where naming the lowest steps over 0.5 loses there.
    (A step under 0.5 has more wrong than right causes, up to the prior's shrinking.)
    """
    tops: dict[str, tuple[float, float, bool]] = {}
    for s in samples:
        p = calibration(s.kind, s.raw)
        if s.incident not in tops or (p, s.raw) > tops[s.incident][:2]:
            tops[s.incident] = (p, s.raw, s.right)
    best_t, best_gain = BREAK_EVEN, None
    for t in sorted({BREAK_EVEN} | {p for p, _, _ in tops.values() if p > BREAK_EVEN}):
        gain = sum((1 if right else -1) for p, _, right in tops.values() if p >= t)
        if best_gain is None or gain > best_gain:
            best_t, best_gain = t, gain
    return round(best_t, 4)


def fit(
    samples: Sequence[Sample], seeds: str = "", min_kind_samples: int = MIN_KIND_SAMPLES
) -> Calibration:
    """A calibration from labelled causes: a pooled map, one per kind with enough samples."""
    if not samples:
        raise ValueError("no labelled causes: nothing to fit")
    maps = {POOLED: fit_map([s.raw for s in samples], [s.right for s in samples])}
    counts = Counter(s.kind for s in samples)
    rights = Counter(s.kind for s in samples if s.right)
    for kind, n in sorted(counts.items()):
        if n >= min_kind_samples and 0 < rights[kind] < n:
            mine = [s for s in samples if s.kind == kind]
            maps[kind] = fit_map([s.raw for s in mine], [s.right for s in mine])
    draft = Calibration(maps=maps, threshold=0.0)
    meta = {
        "method": "isotonic regression of right/wrong on the raw score (scikit-learn), "
        "Laplace-shrunk steps; per cause kind with enough samples, else the pooled map '*'",
        "sklearn": sklearn.__version__,
        "fitted": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "seeds": seeds,
        "incidents": len({s.incident for s in samples}),
        "samples": {"*": len(samples), **dict(sorted(counts.items()))},
        "right": {"*": sum(rights.values()), **dict(sorted(rights.items()))},
        "min_kind_samples": min_kind_samples,
    }
    return Calibration(maps=maps, threshold=choose_threshold(samples, draft), meta=meta)
