"""``switches.yaml``: the switches to poll, with defaults shared by all of them.

```yaml
interval: 10                 # seconds between polls (the --interval flag wins)
defaults:                    # any switch key; each switch may override
  community: public
  vendor: cisco-nxos         # built-in mapping name, or a .yaml mapping file
  ports: "^Ethernet"         # regular expression on ifName
switches:
  - name: leaf1
    target: 10.0.0.11:161
  - name: leaf2
    target: 10.0.0.12
    version: 3
    user: tailsight
    auth_protocol: sha256
    auth_key: "…"
    priv_protocol: aes
    priv_key: "…"
```
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tailsight.collectors.snmp.client import AUTH_PROTOCOLS, PRIV_PROTOCOLS, SnmpTarget
from tailsight.collectors.snmp.mappings import resolve_vendor
from tailsight.collectors.snmp.poller import SwitchConfig
from tailsight.config import ConfigError

_KEYS = {
    "name",
    "target",
    "host",
    "port",
    "version",
    "community",
    "user",
    "auth_key",
    "priv_key",
    "auth_protocol",
    "priv_protocol",
    "timeout",
    "retries",
    "backoff",
    "max_repetitions",
    "vendor",
    "ports",
    "lldp",
    "lldp_every",
}


@dataclass(frozen=True)
class PollerConfig:
    """The parsed file: the switches and the poll interval (``None`` when the file sets none)."""

    switches: tuple[SwitchConfig, ...]
    interval_s: float | None = None


def parse_target(text: str, default_port: int = 161) -> tuple[str, int]:
    """``host``, ``host:port`` or ``[v6addr]:port`` → (host, port)."""
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.lstrip(":") or str(default_port)
    elif text.count(":") == 1:
        host, port = text.split(":")
    else:
        host, port = text, str(default_port)
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"target {text!r}: expected HOST or HOST:PORT")
    return host, int(port)


def switch_config(raw: Mapping[str, Any], where: str, base: Path | None = None) -> SwitchConfig:
    """One switch entry (defaults already merged) → :class:`SwitchConfig`."""
    unknown = set(raw) - _KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{where}: `name` is required")
    where = f"{where} ({name})"
    if "target" in raw:
        host, port = parse_target(str(raw["target"]), int(raw.get("port", 161)))
    elif "host" in raw:
        host, port = str(raw["host"]), int(raw.get("port", 161))
    else:
        raise ConfigError(f"{where}: `target` (HOST:PORT) is required")
    version = str(raw.get("version", "2c"))
    if version not in ("2c", "3"):
        raise ConfigError(f"{where}: version must be 2c or 3")
    auth_protocol = str(raw.get("auth_protocol", "sha")).lower()
    priv_protocol = str(raw.get("priv_protocol", "aes")).lower()
    if auth_protocol not in AUTH_PROTOCOLS:
        raise ConfigError(f"{where}: auth_protocol must be one of {', '.join(AUTH_PROTOCOLS)}")
    if priv_protocol not in PRIV_PROTOCOLS:
        raise ConfigError(f"{where}: priv_protocol must be one of {', '.join(PRIV_PROTOCOLS)}")
    if version == "3" and not (raw.get("user") and raw.get("auth_key")):
        raise ConfigError(f"{where}: SNMPv3 needs `user` and `auth_key` (and `priv_key`)")
    ports = raw.get("ports")
    if ports is not None:
        try:
            re.compile(str(ports))
        except re.error as exc:
            raise ConfigError(f"{where}: ports is not a regular expression: {exc}") from None
    try:
        target = SnmpTarget(
            host=host,
            port=port,
            version="3" if version == "3" else "2c",
            community=str(raw.get("community", "public")),
            user=str(raw.get("user", "")),
            auth_key=str(raw.get("auth_key", "")),
            priv_key=str(raw.get("priv_key", "")),
            auth_protocol=auth_protocol,
            priv_protocol=priv_protocol,
            timeout_s=float(raw.get("timeout", 2.0)),
            retries=int(raw.get("retries", 2)),
            backoff_s=float(raw.get("backoff", 0.2)),
            max_repetitions=int(raw.get("max_repetitions", 40)),
        )
        lldp_every = int(raw.get("lldp_every", 10))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from None
    if target.timeout_s <= 0 or target.retries < 0 or target.max_repetitions < 1:
        raise ConfigError(f"{where}: timeout > 0, retries >= 0, max_repetitions >= 1 required")
    vendor = raw.get("vendor")
    mapping = resolve_vendor(str(vendor), base) if vendor else None
    return SwitchConfig(
        name=name,
        target=target,
        vendor=mapping,
        ports=None if ports is None else str(ports),
        lldp=bool(raw.get("lldp", True)),
        lldp_every=lldp_every,
    )


def load_switches(path: Path) -> PollerConfig:
    """Read and validate ``switches.yaml``; every error is one line naming the file and entry."""
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not YAML ({exc.__class__.__name__})") from None
    if not isinstance(data, dict) or not isinstance(data.get("switches"), list):
        raise ConfigError(f"{path}: expected a mapping with a `switches` list")
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise ConfigError(f"{path}: `defaults` must be a mapping")
    switches = []
    for i, entry in enumerate(data["switches"]):
        if not isinstance(entry, dict):
            raise ConfigError(f"{path}: switches[{i}] must be a mapping")
        switches.append(switch_config({**defaults, **entry}, f"{path}: switches[{i}]", path.parent))
    names = [s.name for s in switches]
    if len(set(names)) != len(names):
        raise ConfigError(f"{path}: switch names must be unique")
    interval = data.get("interval")
    try:
        interval_s = None if interval is None else float(interval)
    except (TypeError, ValueError):
        raise ConfigError(f"{path}: interval must be a number of seconds") from None
    return PollerConfig(tuple(switches), interval_s)
