"""Real SNMP agents on loopback: Debian's ``snmpd`` and ``snmpsim`` with a recorded-style walk."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tailsight.collectors.base import Point
from tests.conftest import free_port

DATA = Path(__file__).parent / "data"
V3_USER, V3_AUTH, V3_PRIV = "tsuser", "auth-pass-123", "priv-pass-123"


def series(points: Iterable[Point]) -> dict[tuple[str, str, str], float]:
    """Points by (metric, port, direction or "") → value."""
    return {
        (
            p.metric,
            str(p.attributes["network.interface.name"]),
            str(p.attributes.get("network.io.direction", "")),
        ): p.value
        for p in points
    }


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(port: int, community: str, timeout: float) -> bool:
    """Whether the agent answers a GET of sysUpTime (net-snmp's snmpget as the client)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        probe = subprocess.run(
            ["snmpget", "-m", "", "-On", "-v2c", "-c", community, "-t", "0.3", "-r", "0"]
            + [f"127.0.0.1:{port}", "1.3.6.1.2.1.1.3.0"],
            capture_output=True,
            text=True,
        )
        if probe.returncode == 0 and "Timeticks" in probe.stdout:
            return True
        time.sleep(0.1)
    return False


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class Snmpd:
    port: int
    community: str = "public"


def start_snmpd(folder: Path) -> tuple[subprocess.Popen[bytes], Snmpd]:
    """Start net-snmp's agent on a free loopback port with its state under ``folder``."""
    if shutil.which("snmpd") is None or shutil.which("snmpbulkwalk") is None:
        pytest.fail("snmpd/snmpbulkwalk missing: run scripts/system-deps.sh")
    folder.mkdir(parents=True, exist_ok=True)
    port = free_udp_port()
    conf = folder / "snmpd.conf"
    conf.write_text(
        f"agentaddress udp:127.0.0.1:{port}\n"
        "rocommunity public 127.0.0.1\n"
        f'createUser {V3_USER} SHA "{V3_AUTH}" AES "{V3_PRIV}"\n'
        f"rouser {V3_USER} priv\n"
    )
    state = folder / "state"
    state.mkdir(exist_ok=True)
    # MIBS="" keeps snmpd from parsing MIB files it does not need (and warning about them).
    env = {**os.environ, "SNMP_PERSISTENT_DIR": str(state), "MIBS": "", "MIBDIRS": str(state)}
    with (folder / "snmpd.log").open("wb") as log:
        proc = subprocess.Popen(
            ["snmpd", "-f", "-Lo", "-C", "-c", str(conf), "-p", str(folder / "snmpd.pid")],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    return proc, Snmpd(port)


def wait_snmpd(proc: subprocess.Popen[bytes], agent: Snmpd, folder: Path) -> None:
    if not _answers(agent.port, agent.community, 10):
        _stop(proc)
        raise AssertionError(f"snmpd did not answer:\n{(folder / 'snmpd.log').read_text()}")


@pytest.fixture
def snmpd(tmp_path: Path) -> Iterator[Snmpd]:
    """Debian's net-snmp agent on a free loopback port: v2c community and a v3 authPriv user."""
    proc, agent = start_snmpd(tmp_path / "snmpd")
    try:
        wait_snmpd(proc, agent, tmp_path / "snmpd")
        yield agent
    finally:
        _stop(proc)


@pytest.fixture
def snmpd_ten(tmp_path: Path) -> Iterator[list[Snmpd]]:
    """Ten net-snmp agents, ten healthy switches."""
    started = [start_snmpd(tmp_path / f"snmpd{i}") for i in range(10)]
    try:
        for i, (proc, agent) in enumerate(started):
            wait_snmpd(proc, agent, tmp_path / f"snmpd{i}")
        yield [agent for _, agent in started]
    finally:
        for proc, _ in started:
            _stop(proc)


class Snmpsim:
    """``snmpsim-command-responder`` serving ``leaf48.snmprec`` on one or more loopback ports.

    The community is the data file's name, ``leaf48``. :meth:`restart` stops and starts the
    agent on the same ports: its uptime and every counter start again, as a switch reboot.
    """

    community = "leaf48"

    def __init__(self, ports: list[int]) -> None:
        self.ports = ports
        # snmpsim drops root privileges to a user that could not read a pytest tmp_path
        # (mode 0700); SNMPSIM_ALLOW_ROOT keeps it as is, and the folder is its own.
        self.dir = Path(tempfile.mkdtemp(prefix="tailsight-snmpsim-"))
        (self.dir / "data").mkdir()
        (self.dir / "cache").mkdir()
        shutil.copy(DATA / "leaf48.snmprec", self.dir / "data" / "leaf48.snmprec")
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0

    def start(self) -> None:
        exe = Path(sys.executable).with_name("snmpsim-command-responder")
        cmd = [
            str(exe),
            f"--data-dir={self.dir / 'data'}",
            f"--cache-dir={self.dir / 'cache'}",
            *(f"--agent-udpv4-endpoint=127.0.0.1:{p}" for p in self.ports),
        ]
        log = (self.dir / "snmpsim.log").open("ab")
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "SNMPSIM_ALLOW_ROOT": "true"},
        )
        log.close()
        for port in self.ports:
            if not _answers(port, self.community, 20):
                raise AssertionError(f"snmpsim did not answer:\n{self.log()[-3000:]}")

    def log(self) -> str:
        return (self.dir / "snmpsim.log").read_text(errors="replace")

    def stop(self) -> None:
        if self.proc is not None:
            _stop(self.proc)
            self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def snmpsim() -> Iterator[Snmpsim]:
    sim = Snmpsim([free_udp_port()])
    try:
        sim.start()
        yield sim
    finally:
        sim.close()


__all__ = ["Snmpd", "Snmpsim", "free_port", "free_udp_port", "series"]
