from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from tailsight.model import Cause, Entity, Evidence, Incident
from tailsight.storage import Store
from tailsight.storage.incidents import get_incident, list_incidents, replace_incidents
from tests.timebase import recent_noon

# Relative to now: the store drops data older than its TTL (tests/timebase.py).
T0 = datetime.fromtimestamp(recent_noon(), UTC) - timedelta(hours=2)


def _incident(minute: int, service: str = "llm-gateway", end: bool = True) -> Incident:
    start = T0 + timedelta(minutes=minute)
    return Incident(
        service=service,
        start=start,
        end=start + timedelta(minutes=5) if end else None,
        p99_ms=812.0,
        baseline_p99_ms=143.0,
        causes=(
            Cause("unknown", 0.1, service, None, "nothing explains it"),
            Cause(
                "network_congestion",
                0.91,
                service,
                Entity("switch_port", "leaf3/Ethernet12"),
                "ECN marks on leaf3/Ethernet12 rose 40x",
                (
                    Evidence(
                        "tailsight.switch.port.ecn_marked",
                        "leaf3/Ethernet12",
                        12.0,
                        4810.0,
                        "{packet}/s",
                    ),
                ),
            ),
        ),
    )


def test_roundtrip_matches_contract_shape(store: Store) -> None:
    replace_incidents(store, T0, T0 + timedelta(hours=1), [_incident(4), _incident(20, end=False)])
    found = list_incidents(store, T0 - timedelta(hours=1))
    assert [i.start.minute for i in found] == [20, 4]  # newest first
    doc = found[1].to_json()
    iso = "%Y-%m-%dT%H:%M:%SZ"
    assert doc["service"] == "llm-gateway"
    assert doc["start"] == (T0 + timedelta(minutes=4)).strftime(iso)
    assert doc["end"] == (T0 + timedelta(minutes=9)).strftime(iso)
    assert found[0].to_json()["end"] is None
    assert [c["kind"] for c in doc["causes"]] == ["network_congestion", "unknown"]
    top = doc["causes"][0]
    assert top["entity"] == {"type": "switch_port", "id": "leaf3/Ethernet12"}
    assert top["evidence"] == [
        {
            "metric": "tailsight.switch.port.ecn_marked",
            "entity": "leaf3/Ethernet12",
            "baseline": 12.0,
            "during": 4810.0,
            "unit": "{packet}/s",
        }
    ]
    assert doc["causes"][1]["entity"] is None


def test_reanalysis_replaces_not_duplicates(store: Store) -> None:
    hour = (T0, T0 + timedelta(hours=1))
    replace_incidents(store, *hour, [_incident(4), _incident(30)])
    replace_incidents(store, *hour, [_incident(4)])
    replace_incidents(store, *hour, [_incident(4)])
    found = list_incidents(store, T0 - timedelta(hours=1))
    assert [i.start.minute for i in found] == [4]


def test_replace_leaves_other_ranges_alone(store: Store) -> None:
    replace_incidents(store, T0, T0 + timedelta(hours=1), [_incident(4)])
    replace_incidents(store, T0 + timedelta(hours=1), T0 + timedelta(hours=2), [_incident(70)])
    replace_incidents(store, T0 + timedelta(hours=1), T0 + timedelta(hours=2), [])
    assert [i.start.minute for i in list_incidents(store, T0 - timedelta(hours=1))] == [4]


def test_range_filter_overlaps(store: Store) -> None:
    replace_incidents(store, T0, T0 + timedelta(hours=1), [_incident(4), _incident(40)])
    found = list_incidents(store, T0 + timedelta(minutes=7), T0 + timedelta(minutes=20))
    assert [i.start.minute for i in found] == [4]  # 10:04-10:09 overlaps 10:07..10:20


def test_llm_sli_incidents_keep_their_sli_and_model_beside_a_duration_one(store: Store) -> None:
    duration = _incident(4).ranked()  # read back with the causes ranked
    ttft = replace(duration, sli="ttft", model="llama-3.1-70b-instruct")
    assert ttft.id != duration.id  # same service and onset, another SLI
    replace_incidents(store, T0, T0 + timedelta(hours=1), [duration, ttft])
    found = {i.id: i for i in list_incidents(store, T0 - timedelta(hours=1))}
    assert found == {duration.id: duration, ttft.id: ttft}
    assert found[ttft.id].to_json()["sli"] == "ttft"
    assert "sli" not in found[duration.id].to_json()
    assert get_incident(store, ttft.id) == ttft


def test_replica_incident_keeps_its_scope_and_replica_beside_the_service_one(store: Store) -> None:
    service = _incident(4)
    replica = replace(service, scope="replica", replica="gpu-node-07/41234")
    assert replica.id != service.id  # the same onset of one service, two spikes
    replace_incidents(store, T0, T0 + timedelta(hours=1), [service, replica])
    found = {i.id: i for i in list_incidents(store, T0 - timedelta(hours=1))}
    assert found[replica.id].to_json()["replica"] == "gpu-node-07/41234"
    assert found[replica.id].to_json()["scope"] == "replica"
    assert "replica" not in found[service.id].to_json()
    assert get_incident(store, replica.id) == replica.ranked()
