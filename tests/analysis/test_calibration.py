"""Calibrated cause scores: applying breakpoints, the shipped artefact, a refit, the threshold."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tailsight.analysis.attribution import rank_causes
from tailsight.analysis.calibration import (
    POOLED,
    RAW,
    Breakpoints,
    Calibration,
    CalibrationError,
    dumps,
    from_json,
    load,
    shipped,
    to_json,
)
from tailsight.analysis.calibration_fit import Sample, choose_threshold, fit, fit_map
from tailsight.model import CAUSE_KINDS
from tests.analysis.test_cpu_saturation import BUSY, CALM, _cpu
from tests.analysis.test_series_evidence import _frames

HAND = Calibration(
    maps={
        POOLED: Breakpoints((0.1, 0.5, 0.9), (0.2, 0.6, 0.9)),
        "load_surge": Breakpoints((0.2, 0.8), (0.1, 0.3)),
    },
    threshold=0.25,
)


def test_breakpoints_interpolate_and_stay_flat_outside() -> None:
    assert HAND("network_congestion", 0.3) == pytest.approx(0.4)
    assert HAND("network_congestion", 0.7) == pytest.approx(0.75)
    assert HAND("network_congestion", 0.0) == pytest.approx(0.2)
    assert HAND("network_congestion", 1.0) == pytest.approx(0.9)
    assert HAND("load_surge", 0.5) == pytest.approx(0.2)  # its own map, not the pooled one
    assert RAW("load_surge", 0.37) == 0.37


def test_artefact_round_trips_and_bad_maps_are_refused_by_name() -> None:
    assert from_json(to_json(HAND)) == HAND
    assert from_json(json.loads(dumps(HAND))) == HAND
    doc = to_json(HAND)
    doc["maps"]["load_surge"]["prob"] = [0.5, 0.3]
    with pytest.raises(CalibrationError, match="maps.load_surge: 'prob' must not decrease"):
        from_json(doc)
    doc["maps"]["load_surge"] = {"raw": [0.2, 0.8], "prob": [0.1]}
    with pytest.raises(CalibrationError, match="maps.load_surge: .*equally long"):
        from_json(doc)
    with pytest.raises(CalibrationError, match="threshold 1.5 is outside"):
        from_json({**to_json(HAND), "threshold": 1.5})


def test_shipped_artefact_loads_and_is_monotone_in_0_1() -> None:
    cal = shipped()
    assert POOLED in cal.maps and 0.0 < cal.threshold < 1.0
    assert set(cal.maps) - {POOLED} <= set(CAUSE_KINDS)
    for m in cal.maps.values():
        assert list(m.raw) == sorted(m.raw) and list(m.prob) == sorted(m.prob)
        assert 0.0 <= m.prob[0] and m.prob[-1] <= 1.0
    for key in ("sklearn", "seeds", "samples", "fitted"):
        assert key in cal.meta
    assert not set(range(101, 125)) & _seeds(str(cal.meta["seeds"]))  # held out
    path = Path(__file__).parents[2] / "tailsight" / "analysis" / "calibration.json"
    assert load(path) == cal and json.loads(path.read_text())["maps"]


def _seeds(text: str) -> set[int]:
    from tailsight.sim.corpus import parse_seeds

    return set(parse_seeds(text))


def test_refit_on_a_tiny_labelled_set_gives_the_expected_map() -> None:
    # Raw 0.1-0.4: all wrong (and the anchor at 0); 0.6-0.9: all right. Isotonic gives
    # two steps, shrunk by one right and one wrong pseudo-sample: 1/13 and 11/12.
    low = [0.1, 0.15, 0.2, 0.25, 0.3, 0.3, 0.35, 0.35, 0.4, 0.4]
    high = [0.6, 0.65, 0.7, 0.7, 0.75, 0.8, 0.8, 0.85, 0.9, 0.9]
    m = fit_map(low + high, [False] * 10 + [True] * 10)
    assert m.raw == (0.0, 0.4, 0.6, 0.9)
    assert m.prob == (round(1 / 13, 4), round(1 / 13, 4), round(11 / 12, 4), round(11 / 12, 4))
    assert m(0.5) == pytest.approx((1 / 13 + 11 / 12) / 2, abs=1e-4)
    samples = [Sample(f"i{n}", "noisy_neighbor", r, r > 0.5) for n, r in enumerate(low + high)]
    cal = fit(samples, seeds="1-2", min_kind_samples=5)
    assert cal.maps["noisy_neighbor"] == m and cal.maps[POOLED] == m
    # Naming the upper step gains 10, the lower one would cost: the break-even 0.5 stays.
    assert cal.threshold == 0.5
    assert cal.meta["samples"] == {"*": 20, "noisy_neighbor": 20}


def test_a_kind_with_few_or_one_sided_samples_uses_the_pooled_map() -> None:
    samples = [Sample(f"a{n}", "load_surge", 0.5, True) for n in range(50)]
    samples += [Sample(f"b{n}", "noisy_neighbor", 0.1 * (n % 10), n % 10 > 4) for n in range(30)]
    cal = fit(samples, min_kind_samples=40)
    assert set(cal.maps) == {POOLED}


def test_non_monotone_shrink_is_refit_monotone() -> None:
    # A big step at 0.9 right and a single right sample above it: shrinking alone would
    # put the single one (2/3) under the big step (10/12); the map stays monotone.
    raw = [0.1] * 10 + [0.5] * 10 + [0.9]
    right = [False] * 10 + [True] * 9 + [False] + [True]
    m = fit_map(raw, right)
    assert list(m.prob) == sorted(m.prob)


def test_all_right_causes_map_to_one_step_falling_to_the_anchor() -> None:
    m = fit_map([0.3, 0.5, 0.9], [True, True, True])
    assert m.raw == (0.0, 0.3, 0.9) and m.prob == (round(1 / 3, 4), 0.8, 0.8)


def test_threshold_names_top_causes_only_where_right_outnumber_wrong() -> None:
    cal = Calibration(maps={POOLED: Breakpoints((0.0, 1.0), (0.0, 1.0))}, threshold=0.0)
    samples = [Sample("a", "x", 0.3, True), Sample("b", "x", 0.4, False)]
    samples += [Sample("e", "x", 0.5, False)]
    samples += [Sample("c", "x", 0.6, True), Sample("d", "x", 0.7, True)]
    samples += [Sample("a", "x", 0.2, False)]  # not the top cause of incident a
    # From the break-even 0.5: 1 - 1 + 1 + 1 = 1 gained (the 0.5 one wrong); from 0.6: 2.
    assert choose_threshold(samples, cal) == 0.6
    # A tie keeps the lower threshold (more right causes named); never under 0.5.
    assert choose_threshold(samples[:2] + samples[3:], cal) == 0.5


def test_rank_causes_calibrates_and_keeps_the_raw_score() -> None:
    values = _cpu({"1": CALM + BUSY, "9": [0.02] * 40}, [0.01] * 30 + [0.5] * 10)
    inc, frames, phases = _frames(values)
    (raw,) = [c for c in rank_causes(inc, frames, phases, RAW) if c.kind == "cpu_saturation"]
    top = rank_causes(inc, frames, phases, HAND)[0]
    assert top.kind == "cpu_saturation" and top.raw_score == raw.score
    assert top.score == pytest.approx(HAND("cpu_saturation", raw.score), abs=1e-4)
    assert "raw_score" not in top.to_json()  # CONTRACT §4's JSON is unchanged


def test_no_cause_over_the_threshold_is_unknown_naming_the_best_lead() -> None:
    values = _cpu({"1": CALM + BUSY, "9": [0.02] * 40}, [0.01] * 30 + [0.5] * 10)
    inc, frames, phases = _frames(values)
    strict = Calibration(maps=HAND.maps, threshold=0.95)
    (cause,) = rank_causes(inc, frames, phases, strict)
    assert cause.kind == "unknown" and cause.score == 0.0
    assert "best lead, cpu_saturation at n2/1" in cause.summary
    assert "under the 95% needed to name it" in cause.summary
