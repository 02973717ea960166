"""Writes ``leaf48.snmprec``: a 48-port data-centre leaf for snmpsim, counters advancing.

Not captured from a device: written in the shape of an SNMP walk of a Cisco NX-OS 9.3
leaf (ifIndex numbering 0x1a000000 + 4096 per Ethernet1/N port, mgmt0 at 0x05000000,
ifXTable 64-bit counters, CISCO-PFC-EXT-MIB, LLDP-MIB with lldpLocPortId "Eth1/N"),
plus one ECN column under the documentation enterprise number 32473 (RFC 5612) that the
test's site mapping reads. snmpsim's ``numeric`` variation makes counters grow with the
agent's uptime at the rates in ``RATES``; mgmt0 has only 32-bit counters and wraps its
ifInOctets ``WRAP_AFTER_S`` seconds after the agent starts, then every 2**32 /
``MGMT_RATE`` (about 61 s): a test whose first poll comes late on a busy machine reads
from the polled value when the next wrap falls and waits for that one.

Run ``python tests/collectors/snmp/data/make_leaf48.py`` after editing; the tests read
the constants below to know what to expect.
"""

from __future__ import annotations

from pathlib import Path

PORTS = 48
ETH_BASE = 0x1A000000
MGMT0 = 0x05000000
WRAP_AFTER_S = 6.0
MGMT_RATE = 70_000_000  # bytes/s into mgmt0 (under its 1 Gb/s), 32-bit counter only
CONGESTED = 7  # Ethernet1/7 sees discards, PFC pauses and ECN marks
ERRORED = 12  # Ethernet1/12 sees input errors
DOWN = 48  # Ethernet1/48 is oper down
NEIGHBORS = {
    1: ("gpu-node-01", "ens1f0"),
    2: ("gpu-node-02", "ens1f0"),
    3: ("gpu-node-03", "ens1f1"),
}
MAC_NEIGHBOR = (5, "gpu-node-05", bytes.fromhex("0c42a1b2c3d4"))

RATES = {
    "in_octets": lambda n: n * 1_000_000,
    "out_octets": lambda n: n * 500_000,
    "in_ucast": lambda n: n * 1_000,
    "out_ucast": lambda n: n * 500,
    "in_discards": lambda n: 50 if n == CONGESTED else 0,
    "out_discards": lambda n: 20 if n == CONGESTED else 0,
    "in_errors": lambda n: 2 if n == ERRORED else 0,
    "pfc_tx": lambda n: 120 if n == CONGESTED else 0,
    "pfc_rx": lambda n: 500 if n == CONGESTED else 0,
    "ecn_q3": lambda n: 1500 if n == CONGESTED else 0,
    "ecn_q4": lambda n: 500 if n == CONGESTED else 0,
}
ECN_COLUMN = "1.3.6.1.4.1.32473.1.1.1.1"  # index ifIndex.queue
INITIAL = 1_000_000  # every advancing 64-bit counter starts here (times the port number)


def if_index(n: int) -> int:
    return ETH_BASE + (n - 1) * 4096


def _counter(tag: int, rate: float, initial: float, bits: int) -> str:
    if not rate:
        return f"{tag}|{int(initial)}"
    wrap = f",max={2**bits},wrap=1" if bits == 32 else ""
    return f"{tag}:numeric|rate={rate:g},initial={int(initial)}{wrap}"


def records() -> list[tuple[tuple[int, ...], str]]:
    out: list[tuple[str, str]] = [
        (
            "1.3.6.1.2.1.1.1.0",
            "4|Cisco NX-OS(tm) nxos.9.3.10.bin, Software (nxos), Version 9.3(10)",
        ),
        ("1.3.6.1.2.1.1.3.0", "67:numeric|rate=100,initial=0"),
        ("1.3.6.1.2.1.1.5.0", "4|leaf48"),
    ]
    ifx = "1.3.6.1.2.1.31.1.1.1"
    ift = "1.3.6.1.2.1.2.2.1"
    for n in range(1, PORTS + 1):
        x = if_index(n)
        name = f"Ethernet1/{n}"
        base = INITIAL * n

        def c(key: str, n: int = n, base: int = base) -> float:
            return float(RATES[key](n)) if key in RATES else 0.0

        out += [
            (f"{ift}.1.{x}", f"2|{x}"),
            (f"{ift}.2.{x}", f"4|{name}"),
            (f"{ift}.3.{x}", "2|6"),
            (f"{ift}.5.{x}", "66|4294967295"),
            (f"{ift}.7.{x}", "2|1"),
            (f"{ift}.8.{x}", f"2|{2 if n == DOWN else 1}"),
            (f"{ift}.10.{x}", _counter(65, c("in_octets"), base % 2**32, 32)),
            (f"{ift}.11.{x}", _counter(65, c("in_ucast"), base % 2**32, 32)),
            (f"{ift}.13.{x}", _counter(65, c("in_discards"), 10 * n, 32)),
            (f"{ift}.14.{x}", _counter(65, c("in_errors"), n, 32)),
            (f"{ift}.16.{x}", _counter(65, c("out_octets"), base % 2**32, 32)),
            (f"{ift}.17.{x}", _counter(65, c("out_ucast"), base % 2**32, 32)),
            (f"{ift}.19.{x}", _counter(65, c("out_discards"), 0, 32)),
            (f"{ift}.20.{x}", "65|0"),
            (f"{ifx}.1.{x}", f"4|{name}"),
            (f"{ifx}.2.{x}", "65|0"),
            (f"{ifx}.3.{x}", "65|0"),
            (f"{ifx}.4.{x}", "65|0"),
            (f"{ifx}.5.{x}", "65|0"),
            (f"{ifx}.6.{x}", _counter(70, c("in_octets"), base, 64)),
            (f"{ifx}.7.{x}", _counter(70, c("in_ucast"), base, 64)),
            (f"{ifx}.8.{x}", "70|100"),
            (f"{ifx}.9.{x}", "70|7"),
            (f"{ifx}.10.{x}", _counter(70, c("out_octets"), base, 64)),
            (f"{ifx}.11.{x}", _counter(70, c("out_ucast"), base, 64)),
            (f"{ifx}.12.{x}", "70|200"),
            (f"{ifx}.13.{x}", "70|3"),
            (f"{ifx}.15.{x}", "66|100000"),
            (f"{ifx}.18.{x}", f"4|{'to gpu nodes' if n <= 32 else 'to spines'}"),
            (f"1.3.6.1.4.1.9.9.813.1.1.1.1.{x}", _counter(70, c("pfc_tx"), 0, 64)),
            (f"1.3.6.1.4.1.9.9.813.1.1.1.2.{x}", _counter(70, c("pfc_rx"), 0, 64)),
            (f"{ECN_COLUMN}.{x}.3", _counter(70, c("ecn_q3"), 0, 64)),
            (f"{ECN_COLUMN}.{x}.4", _counter(70, c("ecn_q4"), 0, 64)),
            ("1.0.8802.1.1.2.1.3.7.1.2." + str(n), "2|7"),
            ("1.0.8802.1.1.2.1.3.7.1.3." + str(n), f"4|Eth1/{n}"),
            ("1.0.8802.1.1.2.1.3.7.1.4." + str(n), f"4|{name}"),
        ]
    m = MGMT0
    out += [
        (f"{ift}.1.{m}", f"2|{m}"),
        (f"{ift}.2.{m}", "4|mgmt0"),
        (f"{ift}.3.{m}", "2|6"),
        (f"{ift}.5.{m}", "66|1000000000"),
        (f"{ift}.7.{m}", "2|1"),
        (f"{ift}.8.{m}", "2|1"),
        (f"{ift}.10.{m}", _counter(65, MGMT_RATE, 2**32 - MGMT_RATE * WRAP_AFTER_S, 32)),
        (f"{ift}.13.{m}", "65|0"),
        (f"{ift}.14.{m}", "65|0"),
        (f"{ift}.16.{m}", _counter(65, MGMT_RATE // 10, 5000, 32)),
        (f"{ift}.19.{m}", "65|0"),
        (f"{ift}.20.{m}", "65|0"),
        (f"{ifx}.1.{m}", "4|mgmt0"),
        (f"{ifx}.15.{m}", "66|1000"),
    ]
    rem = "1.0.8802.1.1.2.1.4.1.1"
    for port, (sys_name, port_id) in NEIGHBORS.items():
        out += [
            (f"{rem}.6.0.{port}.1", "2|5"),
            (f"{rem}.7.0.{port}.1", f"4|{port_id}"),
            (f"{rem}.9.0.{port}.1", f"4|{sys_name}"),
        ]
    port, sys_name, mac = MAC_NEIGHBOR
    out += [
        (f"{rem}.6.0.{port}.1", "2|3"),
        (f"{rem}.7.0.{port}.1", f"4x|{mac.hex()}"),
        (f"{rem}.9.0.{port}.1", f"4|{sys_name}"),
    ]
    return sorted((tuple(int(p) for p in oid.split(".")), value) for oid, value in out)


def main() -> None:
    path = Path(__file__).with_name("leaf48.snmprec")
    lines = [".".join(map(str, oid)) + "|" + value for oid, value in records()]
    path.write_text("\n".join(lines) + "\n")
    print(f"{path}: {len(lines)} records")


if __name__ == "__main__":
    main()
