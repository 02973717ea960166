"""Switch poll cost: one IF-MIB poll of the simulated 48-port leaf vs net-snmp's snmpbulkwalk.

The limit is net-snmp's C ``snmpbulkwalk`` walking ``ifTable`` and ``ifXTable`` of the same
agent (all their columns, a superset of what the poller reads), measured in the same run;
the agent (snmpsim, answering at most 51 varbinds per response) is the same for both, so
the ratio says what the poller's client side adds. Run: ``.venv/bin/python bench/switch_poll.py``.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tailsight.collectors.snmp.client import SnmpTarget
from tailsight.collectors.snmp.poller import SwitchConfig, make_pollers

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "collectors" / "snmp" / "data" / "leaf48.snmprec"
ROUNDS = 5


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bulkwalk(port: int) -> int:
    rows = 0
    for table in ("1.3.6.1.2.1.2.2", "1.3.6.1.2.1.31.1.1"):
        out = subprocess.run(
            ["snmpbulkwalk", "-m", "", "-On", "-v2c", "-c", "leaf48", f"127.0.0.1:{port}", table],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        rows += len(out.splitlines())
    return rows


def main() -> int:
    folder = Path(tempfile.mkdtemp(prefix="tailsight-bench-snmpsim-"))
    (folder / "data").mkdir()
    shutil.copy(DATA, folder / "data" / "leaf48.snmprec")
    port = free_udp_port()
    exe = Path(sys.executable).with_name("snmpsim-command-responder")
    with (folder / "log").open("wb") as log:
        sim = subprocess.Popen(
            [str(exe), f"--data-dir={folder / 'data'}", f"--cache-dir={folder}"]
            + [f"--agent-udpv4-endpoint=127.0.0.1:{port}"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "SNMPSIM_ALLOW_ROOT": "true"},
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                bulkwalk(port)
                break
            except subprocess.CalledProcessError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        target = SnmpTarget("127.0.0.1", port, community="leaf48")
        [poller] = make_pollers([SwitchConfig("leaf48", target, lldp=False)])
        with asyncio.Runner() as runner:
            runner.run(poller.poll())  # engine start-up and MIB loading: not part of a poll
            started = time.perf_counter()
            for _ in range(ROUNDS):
                poll = runner.run(poller.poll())
                assert poll.error is None, poll.error
            ours = (time.perf_counter() - started) / ROUNDS
        started = time.perf_counter()
        for _ in range(ROUNDS):
            varbinds = bulkwalk(port)
        limit = (time.perf_counter() - started) / ROUNDS
    finally:
        sim.terminate()
        sim.wait(10)
        shutil.rmtree(folder, ignore_errors=True)
    print(
        f"switch poll: {poll.ports} ports, {len(poll.points)} points in {ours * 1000:.0f} ms "
        f"({poller.client.requests // (ROUNDS + 1)} requests); snmpbulkwalk of ifTable+ifXTable "
        f"({varbinds} varbinds) {limit * 1000:.0f} ms; ratio {ours / limit:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
