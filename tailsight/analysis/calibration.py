"""Calibrated cause scores: the raw score mapped to the chance that the cause is right.

The raw score (``scoring.score``: evidence strength times blast-radius fit) ranks
candidates well but says little about how often a cause is right: on the simulator
corpus causes scored 0.3 were right most of the time. An isotonic map per cause kind,
fitted on the corpus's dev seeds (``bench/fit_calibration.py``), turns it into a
probability: of the causes calibrated to 0.9, about nine in ten name the right culprit.

The map ships as ``calibration.json`` beside this module: piecewise-linear breakpoints
(raw score → probability) per kind, a pooled map for kinds with too few samples, and
the threshold under which no cause is named (``unknown``). Applying it is
``np.interp``; scikit-learn is needed only to refit.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

POOLED = "*"  # the map of every kind together, for kinds without their own
ARTEFACT = "calibration.json"


class CalibrationError(ValueError):
    """The calibration artefact is unreadable or not a monotone map in 0..1."""


@dataclass(frozen=True)
class Breakpoints:
    """A monotone piecewise-linear map from raw score to probability."""

    raw: tuple[float, ...]
    prob: tuple[float, ...]

    def __call__(self, raw: float) -> float:
        """The probability at ``raw``; flat beyond the first and last breakpoints."""
        return float(np.interp(raw, self.raw, self.prob))


@dataclass(frozen=True)
class Calibration:
    """Per-kind maps, a pooled fallback and the naming threshold.

    ``threshold``: a cause whose calibrated score is below it is not named; an incident
    with no cause over it gets ``unknown``. ``meta``: how it was fitted (seeds, sample
    counts, scikit-learn version, date), kept for people, not read by the analysis.
    """

    maps: dict[str, Breakpoints]
    threshold: float
    meta: dict[str, Any] = field(default_factory=dict, compare=False)

    def __call__(self, kind: str, raw: float) -> float:
        """The calibrated score of a ``kind`` cause with raw score ``raw``."""
        mapping = self.maps.get(kind) or self.maps.get(POOLED)
        if mapping is None:
            return raw
        return max(0.0, min(1.0, mapping(raw)))

    @property
    def identity(self) -> bool:
        return not self.maps


# No map: scores stay raw, and the threshold is the raw floor attribution always had.
# The refit analyses the corpus with it, so every candidate's raw score is seen.
RAW = Calibration(maps={}, threshold=0.05, meta={"method": "none: raw scores"})


def from_json(doc: dict[str, Any], where: str = ARTEFACT) -> Calibration:
    """A :class:`Calibration` from the artefact's JSON, checked: clear errors name the field."""
    try:
        threshold = float(doc["threshold"])
        maps_doc = doc["maps"]
    except (KeyError, TypeError, ValueError) as exc:
        raise CalibrationError(f"{where}: needs 'threshold' (a number) and 'maps'") from exc
    if not 0.0 <= threshold <= 1.0:
        raise CalibrationError(f"{where}: threshold {threshold} is outside 0..1")
    if not isinstance(maps_doc, dict):
        raise CalibrationError(f"{where}: 'maps' must be an object of cause kinds")
    maps: dict[str, Breakpoints] = {}
    for kind, m in maps_doc.items():
        maps[str(kind)] = _breakpoints(m, f"{where}: maps.{kind}")
    meta = {k: v for k, v in doc.items() if k not in ("threshold", "maps")}
    return Calibration(maps=maps, threshold=threshold, meta=meta)


def _breakpoints(doc: Any, where: str) -> Breakpoints:
    try:
        raw = tuple(float(x) for x in doc["raw"])
        prob = tuple(float(y) for y in doc["prob"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CalibrationError(f"{where}: needs 'raw' and 'prob' lists of numbers") from exc
    if not raw or len(raw) != len(prob):
        raise CalibrationError(f"{where}: 'raw' and 'prob' must be non-empty and equally long")
    if any(not math.isfinite(v) for v in raw + prob):
        raise CalibrationError(f"{where}: breakpoints must be finite")
    if any(b < a for a, b in zip(raw, raw[1:], strict=False)):
        raise CalibrationError(f"{where}: 'raw' must be increasing")
    if any(b < a for a, b in zip(prob, prob[1:], strict=False)):
        raise CalibrationError(f"{where}: 'prob' must not decrease (the map is monotone)")
    if prob[0] < 0.0 or prob[-1] > 1.0:
        raise CalibrationError(f"{where}: probabilities must lie in 0..1")
    return Breakpoints(raw, prob)


def to_json(calibration: Calibration) -> dict[str, Any]:
    """The artefact's JSON of ``calibration`` (``from_json``'s inverse)."""
    return {
        **calibration.meta,
        "threshold": calibration.threshold,
        "maps": {
            kind: {"raw": list(m.raw), "prob": list(m.prob)}
            for kind, m in sorted(calibration.maps.items())
        },
    }


def dumps(calibration: Calibration) -> str:
    """The artefact's text: one line per field and per kind's map, for people to read and diff."""
    doc = to_json(calibration)
    maps = doc.pop("maps")
    lines = [f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in doc.items()]
    kinds = [f"    {json.dumps(k)}: {json.dumps(m)}" for k, m in maps.items()]
    return "{\n" + ",\n".join([*lines, '  "maps": {\n' + ",\n".join(kinds) + "\n  }"]) + "\n}\n"


def load(path: Path | None = None) -> Calibration:
    """The calibration at ``path``, or the one shipped with the package."""
    if path is not None:
        return from_json(json.loads(path.read_text()), str(path))
    return shipped()


@cache
def shipped() -> Calibration:
    """The package's ``calibration.json``, read once per process."""
    text = resources.files("tailsight.analysis").joinpath(ARTEFACT).read_text()
    return from_json(json.loads(text), f"tailsight/analysis/{ARTEFACT}")
