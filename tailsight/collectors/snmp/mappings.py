"""Vendor MIB mappings as data: which enterprise column feeds which ``tailsight.switch.*`` metric.

PFC pause frames and ECN marks live in vendor MIBs, so each switch OS gets a YAML file
in ``vendors/`` (or any file named in ``switches.yaml``). Each entry names a table
column whose row index starts with the port's ifIndex; extra index parts (priority,
queue) are summed per port. See the README section "Switch poller" for adding one.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from tailsight.collectors.catalogue import BY_NAME
from tailsight.collectors.snmp.client import Oid, parse_oid
from tailsight.config import ConfigError

# The metrics a vendor mapping may feed: those no standard MIB carries.
MAPPABLE = ("tailsight.switch.port.pfc.pause_frames", "tailsight.switch.port.ecn_marked")
DIRECTIONS = ("receive", "transmit")


@dataclass(frozen=True)
class VendorColumn:
    """One enterprise table column feeding one metric in one direction (or none)."""

    metric: str
    oid: Oid
    direction: str | None
    bits: int


@dataclass(frozen=True)
class VendorMapping:
    """The extra columns of one switch OS."""

    name: str
    columns: tuple[VendorColumn, ...]
    aliases: tuple[str, ...] = ()
    description: str = ""


def parse_mapping(data: object, source: str) -> VendorMapping:
    """Validate one mapping document; errors name the file and the entry."""
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        raise ConfigError(f"{source}: a vendor mapping needs `name` and `metrics`")
    entries = data.get("metrics")
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{source}: `metrics` must be a non-empty list")
    columns = []
    for i, entry in enumerate(entries):
        where = f"{source}: metrics[{i}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: expected a mapping")
        metric = entry.get("metric")
        if metric not in MAPPABLE:
            raise ConfigError(f"{where}: metric must be one of {', '.join(MAPPABLE)}")
        try:
            oid = parse_oid(str(entry.get("oid", "")))
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        direction = entry.get("direction")
        needs_direction = "network.io.direction" in BY_NAME[metric].attributes
        if direction is None and needs_direction or direction not in (None, *DIRECTIONS):
            raise ConfigError(f"{where}: direction must be receive or transmit")
        bits = entry.get("bits", 64)
        if bits not in (32, 64):
            raise ConfigError(f"{where}: bits must be 32 or 64")
        columns.append(VendorColumn(metric, oid, direction, bits))
    aliases = tuple(str(a) for a in data.get("aliases") or ())
    return VendorMapping(data["name"], tuple(columns), aliases, str(data.get("description", "")))


def load_mapping_file(path: Path) -> VendorMapping:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"vendor mapping {path}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"vendor mapping {path}: not YAML ({exc.__class__.__name__})") from None
    return parse_mapping(data, str(path))


def builtin_mappings() -> dict[str, VendorMapping]:
    """The mappings shipped in ``vendors/``, by name and alias."""
    out: dict[str, VendorMapping] = {}
    for item in resources.files("tailsight.collectors.snmp.vendors").iterdir():
        if item.name.endswith(".yaml"):
            mapping = parse_mapping(yaml.safe_load(item.read_text()), f"vendors/{item.name}")
            for key in (mapping.name, *mapping.aliases):
                out[key] = mapping
    return out


def resolve_vendor(vendor: str, base: Path | None = None) -> VendorMapping:
    """A built-in mapping by name, or a YAML file (relative to ``base``, the config's folder)."""
    builtin = builtin_mappings()
    if vendor in builtin:
        return builtin[vendor]
    if vendor.endswith((".yaml", ".yml")):
        path = Path(vendor)
        return load_mapping_file(path if path.is_absolute() or base is None else base / path)
    raise ConfigError(
        f"unknown vendor {vendor!r}: use one of {', '.join(sorted(builtin))} or a .yaml mapping file"
    )
