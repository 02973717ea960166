"""`tailsight demo` as a newcomer runs it, shortened: backfill, live phase with faults, clean stop."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, free_port

pytestmark = pytest.mark.integration


def test_demo_backfills_goes_live_injects_faults_and_stops(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    api = free_port()
    cmd = [
        sys.executable,
        "-m",
        "tailsight",
        "demo",
        "--data-dir",
        str(data),
        "--api-port",
        str(api),
        "--otlp-http-port",
        str(free_port()),
        "--otlp-grpc-port",
        str(free_port()),
        "--history",
        "20m",
        "--fine",
        "20m",
        "--live-for",
        "8s",
        "--fault-every",
        "3s",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=240, cwd=REPO)
    err = done.stderr
    assert done.returncode == 0, err
    assert err.splitlines()[0].startswith(f"dashboards: http://127.0.0.1:{api}/")
    assert "live after" in err and f"http://127.0.0.1:{api}/api/v1/incidents" in err
    assert "recent (full detail) stored and analysed after" in err
    assert "recent (full detail): 100%" in err
    assert " fault " in err and "culprit" in err  # a live fault was injected and announced
    assert "demo stopped" in err
    truth = json.loads((data / "truth.json").read_text())
    kinds = {f["kind"] for f in truth["faults"]}
    assert {
        "port_congestion",
        "gpu_noisy_neighbor",
        "cpu_noisy_neighbor",
        "gpu_underutilized",
        "load_surge",
    } <= kinds
    # The server was stopped: the store's lock is free again.
    from tailsight.storage.lock import current_holder

    assert current_holder(data / "store") is None


def test_demo_refuses_a_used_data_dir(tmp_path: Path) -> None:
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "something").write_text("x")
    done = subprocess.run(
        [sys.executable, "-m", "tailsight", "demo", "--data-dir", str(tmp_path / "old")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert done.returncode == 2
    assert "not empty" in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_demo_says_which_port_is_taken(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "tailsight", "demo", "--data-dir", str(tmp_path / "d"),
             "--api-port", str(port), "--otlp-http-port", str(free_port()),
             "--otlp-grpc-port", str(free_port())],
            capture_output=True, text=True, timeout=60, cwd=REPO,
        )  # fmt: skip
    assert done.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
