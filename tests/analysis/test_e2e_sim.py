"""End to end: the simulator's telemetry over OTLP/HTTP into `tailsight up`, then incidents.

One scenario with one fault of each incident kind, one after another, backfilled through
the real receiver; ``POST /api/v1/analyze`` over the range must give, for each fault, an
incident whose first cause has the truth's kind and culprit. The filled `tailsight up` is
the session's ``every_kind_up`` (tests/conftest.py), which the browser tests also read.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from tests.conftest import UpProcess
from tests.simfill import INCIDENT_KINDS


# The first test to ask fills the shared `tailsight up` (every_kind_up); the timeout, a
# bound on a hang, covers that fill with the suite's other workers sharing the CPUs.
@pytest.mark.integration
@pytest.mark.timeout(900)
def test_each_fault_kind_gets_its_cause_through_up(
    every_kind_up: tuple[UpProcess, dict[str, Any]],
) -> None:
    _, info = every_kind_up
    incidents = info["incidents"]
    assert set(info["faults"]) == set(INCIDENT_KINDS)
    for kind, want in info["faults"].items():
        good = [want["culprit"], *want["accepted"]]
        services = set(want["affected_services"]) | set(want["upstream_services"])
        start, end = _unix(want["start"]), _unix(want["end"])
        near = [
            i
            for i in incidents
            if i["service"] in services and start - 30 <= _unix(i["start"]) <= end + 60
        ]
        assert near, f"{kind}: no incident of {sorted(services)}: {incidents}"
        tops = [(i["causes"][0]["kind"], i["causes"][0]["entity"]) for i in near]
        assert any(k == want["cause_kind"] and e in good for k, e in tops), (
            f"{kind}: want {want['cause_kind']} {good}, got {tops}"
        )


def _unix(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
