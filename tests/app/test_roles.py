"""`tailsight up --role …` processes: what each serves and what it refuses (docs/deployment.md).

The embedded store admits one process, so each role runs on its own data directory here;
a cluster runs them side by side on one ClickHouse server.
"""

from __future__ import annotations

import json
import random
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import replace
from pathlib import Path

import pytest

from tailsight.sim.faults import random_fault
from tailsight.sim.fleet import build_fleet
from tailsight.sim.scenario import Scenario, Simulation
from tailsight.sim.sender import OtlpHttpSender, backfill
from tailsight.storage import open_store
from tailsight.storage.state import get_state
from tests.conftest import REPO, UpProcess
from tests.sim.simdata import SPEC
from tests.timebase import recent_noon

pytestmark = pytest.mark.integration

LEASE = "/api/v1/leases/analyzer"


def _status(url: str, body: bytes | None = None, content_type: str = "application/json") -> int:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def _json(url: str) -> dict[str, object]:
    with urllib.request.urlopen(url, timeout=10) as r:
        data = json.loads(r.read())
    assert isinstance(data, dict)
    return data


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    except ConnectionRefusedError:
        return False


def _serves(proc: UpProcess) -> dict[str, int | bool]:
    """What a process answers on each port and route the roles divide between them."""
    api = proc.api
    return {
        "health": _status(api + "/api/v1/health"),
        "metrics": _status(api + "/metrics"),
        "incidents": _status(api + "/api/v1/incidents?since=1h"),
        "analyze": _status(api + "/api/v1/analyze", b'{"from": "1h"}'),
        "lease": _status(api + LEASE),
        "otlp_http": _listening(proc.otlp_http_port),
        "otlp_grpc": _listening(proc.otlp_grpc_port),
    }


def _wait_running(proc: UpProcess, timeout: float) -> dict[str, object]:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        status = _json(proc.api + LEASE)
        if status["running"]:
            return status
        time.sleep(0.2)
    raise AssertionError(f"the analyzer did not start its jobs in {timeout}s:\n{proc.output()}")


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        (
            "receiver",
            dict(health=200, metrics=200, incidents=404, analyze=404, lease=404,
                 otlp_http=True, otlp_grpc=True),
        ),
        (
            "analyzer",
            dict(health=200, metrics=404, incidents=404, analyze=404, lease=200,
                 otlp_http=False, otlp_grpc=False),
        ),
        (
            "ui",
            dict(health=200, metrics=404, incidents=200, analyze=200, lease=404,
                 otlp_http=False, otlp_grpc=False),
        ),
        (
            "all",
            dict(health=200, metrics=200, incidents=200, analyze=200, lease=200,
                 otlp_http=True, otlp_grpc=True),
        ),
    ],
)  # fmt: skip
def test_role_serves_and_refuses(tmp_path: Path, role: str, expected: dict[str, object]) -> None:
    proc = UpProcess(tmp_path / "data", "--role", role)
    try:
        proc.wait_healthy(timeout=60)
        assert _serves(proc) == expected
        if expected["otlp_http"]:
            empty_export = b""  # an ExportTraceServiceRequest without spans
            url = f"http://127.0.0.1:{proc.otlp_http_port}/v1/traces"
            assert _status(url, empty_export, "application/x-protobuf") == 200
        if expected["lease"] == 200:
            status = _wait_running(proc, timeout=30)
            assert status["held"] and status["holder"] == status["me"]
        if expected["incidents"] == 404:  # the CLI finds it through the lock, and says why not
            cli = subprocess.run(
                [sys.executable, "-m", "tailsight", "incidents", "--since", "1h",
                 "--data-dir", str(tmp_path / "data")],
                capture_output=True, text=True, timeout=60, cwd=REPO,
            )  # fmt: skip
            assert cli.returncode == 2
            assert "does not serve /api/v1/incidents" in cli.stderr, cli.stderr
    finally:
        assert proc.stop() == 0, proc.output()
    assert "Traceback" not in proc.output()
    # Only a receiver keeps an ingest spool.
    assert (tmp_path / "data" / "spool").exists() == expected["otlp_http"]


def test_killed_analyzer_is_replaced_within_a_minute(tmp_path: Path) -> None:
    """SIGKILL the lease holder; the next analyzer waits out its claim, then runs the jobs."""
    data = tmp_path / "data"
    env = {"TAILSIGHT_LEASE_TTL_S": "6"}
    first = UpProcess(data, "--role", "analyzer", env=env)
    try:
        first.wait_healthy(timeout=60)
        dead = _wait_running(first, timeout=30)
    finally:
        first.proc.kill()
        first.proc.wait(30)
        first.stop()
    killed = time.monotonic()
    second = UpProcess(data, "--role", "analyzer", env=env)
    try:
        second.wait_healthy(timeout=60)
        status = _wait_running(second, timeout=60)
        took = time.monotonic() - killed
        assert took < 60
        assert status["holder"] == status["me"] != dead["me"]
        assert int(str(status["term"])) > int(str(dead["term"]))
    finally:
        assert second.stop() == 0, second.output()
    log = second.output()
    assert "lease analyzer won" in log, log


def _one_fault_scenario() -> Scenario:
    """Ten quiet minutes, then four of a load surge, placed two days back (inside the TTL)."""
    start = recent_noon()
    fleet = build_fleet(SPEC, 5)
    fault = random_fault("load_surge", fleet, random.Random(5), start + 600, 240.0, "f1")
    return Scenario(5, start, 960.0, SPEC, (replace(fault, intensity=1.0, ramp_s=10.0),))


def test_roles_in_turn_on_one_store(tmp_path: Path) -> None:
    """What a receiver stores, an analyzer analyses, and a UI serves (one at a time here)."""
    data = tmp_path / "data"
    scenario = _one_fault_scenario()
    receiver = UpProcess(data, "--role", "receiver")
    try:
        receiver.wait_healthy(timeout=60)
        sender = OtlpHttpSender(f"http://127.0.0.1:{receiver.otlp_http_port}")
        try:
            backfill(Simulation(scenario), sender, scenario.end, ticks_per_batch=30)
        finally:
            sender.close()
    finally:
        assert receiver.stop() == 0, receiver.output()  # drains its spool into the store

    analyzer = UpProcess(data, "--role", "analyzer", env={"TAILSIGHT_ANALYSIS_INTERVAL_S": "1"})
    try:
        analyzer.wait_healthy(timeout=60)
        started = time.monotonic()
        while "analysed " not in analyzer.output():
            assert time.monotonic() - started < 120, analyzer.output()
            time.sleep(0.5)
    finally:
        assert analyzer.stop() == 0, analyzer.output()
    store = open_store(f"chdb://{data}")
    try:
        assert get_state(store, "analysis", "watermark") is not None
        stored = {
            r[0]: r[1] for r in store.rows("SELECT Id, Service FROM tailsight_incidents FINAL")
        }
        lease = store.rows("SELECT Holder FROM tailsight_leases ORDER BY Term DESC LIMIT 1")
        assert lease == [("",)]  # released on SIGTERM
    finally:
        store.close()
    assert scenario.faults[0].target in stored.values(), stored  # the surging service

    ui = UpProcess(data, "--role", "ui")
    try:
        ui.wait_healthy(timeout=60)
        with urllib.request.urlopen(ui.api + "/api/v1/incidents?since=30d", timeout=30) as r:
            served = json.loads(r.read())
    finally:
        assert ui.stop() == 0, ui.output()
    assert {i["id"]: i["service"] for i in served} == stored
