"""The metric catalogue against CONTRACT §3: same names, types and units."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tailsight.collectors.catalogue import BY_NAME, METRICS

REPO = Path(__file__).resolve().parents[2]
VENDORED = REPO / "docs" / "CONTRACT.md"
SHARED = REPO.parent / "shared" / "CONTRACT.md"


def contract_metrics(text: str) -> dict[str, tuple[str, str, str]]:
    """``name -> (type, unit, notes)`` from the metric tables of CONTRACT §3."""
    section = text.split("## 3. Metrics", 1)[1].split("## 4.", 1)[0]
    out: dict[str, tuple[str, str, str]] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 4 or not cells[0].startswith("`"):
            continue
        for name in re.findall(r"`([^`]+)`", cells[0]):
            out[name] = (cells[1], cells[2], cells[3])
    return out


def test_vendored_contract_matches_shared_when_present() -> None:
    if not SHARED.exists():
        pytest.skip("no ../shared beside this checkout; the vendored copy is used")
    assert contract_metrics(SHARED.read_text()) == contract_metrics(VENDORED.read_text())


def test_every_contract_metric_is_catalogued_with_its_type_and_unit() -> None:
    contract = contract_metrics(VENDORED.read_text())
    assert len(contract) >= 31
    for name, (kind, unit, notes) in contract.items():
        assert name in BY_NAME, f"{name} missing from the catalogue"
        entry = BY_NAME[name]
        assert entry.kind == kind, name
        assert entry.unit == unit, name
        for attr in re.findall(r"`([a-z0-9_.]+)`", notes):
            if (
                "." in attr
                and not attr.startswith(("np_", "tailsight.switch.port."))
                and "=" not in attr
            ):
                declared = entry.attributes + entry.optional_attributes
                assert attr in declared or attr == name, f"{name}: contract attribute {attr}"


def test_catalogue_names_are_unique_and_extensions_are_ours() -> None:
    contract = contract_metrics(VENDORED.read_text())
    assert len({m.name for m in METRICS}) == len(METRICS)
    for m in METRICS:
        assert m.name in contract or m.name.startswith("tailsight."), m.name
