"""Topology: which switch port each NIC is cabled to, as ``tailsight.nic.link`` (value 1).

Two sources, used together (the file wins for an interface both name):

- LLDP: ``lldpctl -f json`` when lldpd runs on the node. The switch is the neighbour's
  system name (chassis name, else its id); the port is the neighbour's port id when that
  is an interface name, else its port description. lldpctl is run at most every
  ``refresh_s`` (topology changes when someone recables, not every second).
- A static topology file (YAML), for fabrics without LLDP on the hosts::

      links:
        - {host: gpu-node-7, interface: ens1np0, switch: leaf3, port: Ethernet12}
        - {interface: eno1, switch: mgmt-sw1, port: ge-0/0/7}   # no host: every host

  Entries with a ``host`` apply only to the agent whose ``host.name`` matches.
"""

from __future__ import annotations

import json
import logging
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tailsight.collectors.base import Point

log = logging.getLogger(__name__)


class TopologyError(ValueError):
    """A topology file that cannot be used; the message names the file and the entry."""


@dataclass(frozen=True)
class Link:
    """One NIC to switch-port cable."""

    interface: str
    switch: str
    port: str


def _first(value: Any) -> Any:
    """json0 wraps every value in a list and scalars in ``{"value": …}``; json does not."""
    while isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, dict) and set(value) == {"value"}:
        return value["value"]
    return value


def _neighbour(iface: str, body: dict[str, Any]) -> Link | None:
    chassis = _first(body.get("chassis")) or {}
    switch = _first(chassis.get("name"))
    if switch is None:
        # lldpctl -f json keys the chassis by its name when it has one.
        named = [k for k in chassis if k not in ("id", "descr", "mgmt-ip", "capability")]
        if len(named) == 1:
            switch = named[0]
        else:
            switch = _first((_first(chassis.get("id")) or {}).get("value"))
    port = _first(body.get("port")) or {}
    pid = _first(port.get("id")) or {}
    if isinstance(pid, dict) and pid.get("type") == "ifname":
        name = pid.get("value")
    else:
        name = _first(port.get("descr")) or (pid.get("value") if isinstance(pid, dict) else pid)
    if not switch or not name:
        return None
    return Link(iface, str(switch), str(name))


def parse_lldpctl(text: str) -> list[Link]:
    """Links from ``lldpctl -f json`` (or ``-f json0``) output; ``ValueError`` when not JSON."""
    data = json.loads(text)
    lldp = _first(data.get("lldp")) if isinstance(data, dict) else None
    if not isinstance(lldp, dict):
        return []
    interfaces = lldp.get("interface") or []
    if isinstance(interfaces, dict):
        interfaces = [interfaces]
    links: list[Link] = []
    for entry in interfaces:
        if "name" in entry:  # json0: {"name": "eth0", "chassis": [...], ...}
            pairs = [(str(_first(entry["name"])), entry)]
        else:  # json: {"eth0": {...}}
            pairs = [(str(k), v) for k, v in entry.items()]
        for iface, body in pairs:
            link = _neighbour(iface, body)
            if link is not None:
                links.append(link)
    return links


def run_lldpctl() -> str:
    """``lldpctl -f json``'s output; ``OSError`` when lldpd is not installed or not running."""
    done = subprocess.run(
        ["lldpctl", "-f", "json"], capture_output=True, text=True, timeout=5, check=False
    )
    if done.returncode != 0:
        raise OSError(done.stderr.strip() or f"lldpctl exited {done.returncode}")
    return done.stdout


def load_topology(path: Path | str, host: str) -> list[Link]:
    """This host's links from a topology YAML file; :class:`TopologyError` names what is wrong."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except OSError as exc:
        raise TopologyError(f"topology file {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise TopologyError(f"topology file {path}: {exc}") from None
    entries = data.get("links") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise TopologyError(f"topology file {path}: expected a 'links:' list")
    links: list[Link] = []
    for i, entry in enumerate(entries):
        missing = [
            k
            for k in ("interface", "switch", "port")
            if not isinstance(entry, dict) or k not in entry
        ]
        if missing:
            raise TopologyError(f"topology file {path}: link {i + 1} lacks {', '.join(missing)}")
        if entry.get("host") not in (None, host):
            continue
        links.append(Link(str(entry["interface"]), str(entry["switch"]), str(entry["port"])))
    return links


class TopologyCollector:
    """``tailsight.nic.link`` from LLDP and/or a static topology file.

    Args:
        links: links from a topology file (see :func:`load_topology`).
        lldp: returns ``lldpctl -f json`` output (see :func:`run_lldpctl`); ``None`` skips LLDP.
        refresh_s: seconds between lldpctl runs.
    """

    name = "topology"

    def __init__(
        self,
        links: list[Link] | None = None,
        lldp: Callable[[], str] | None = run_lldpctl,
        refresh_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.static = list(links or [])
        self.lldp = lldp
        self.refresh_s = refresh_s
        self.clock = clock
        self._lldp_links: list[Link] = []
        self._read_at: float | None = None
        self._lldp_failed = False

    def _refresh(self) -> None:
        now = self.clock()
        if self.lldp is None or (
            self._read_at is not None and now - self._read_at < self.refresh_s
        ):
            return
        self._read_at = now
        try:
            self._lldp_links = parse_lldpctl(self.lldp())
            self._lldp_failed = False
        except (OSError, subprocess.SubprocessError, ValueError) as exc:
            if not self._lldp_failed:
                log.info("no LLDP topology (%s); using the topology file only", exc)
            self._lldp_failed = True

    def links(self) -> list[Link]:
        self._refresh()
        by_iface = {link.interface: link for link in self._lldp_links}
        by_iface.update({link.interface: link for link in self.static})
        return [by_iface[k] for k in sorted(by_iface)]

    def collect(self) -> Iterator[Point]:
        for link in self.links():
            yield Point(
                "tailsight.nic.link",
                1.0,
                {
                    "network.interface.name": link.interface,
                    "tailsight.switch.name": link.switch,
                    "tailsight.switch.port": link.port,
                },
            )
