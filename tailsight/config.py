"""Every setting of tailsight, and where each comes from.

Precedence, highest first:

1. command-line flags (``--data-dir``, ``--store`` …);
2. environment variables ``TAILSIGHT_<NAME>`` (``TAILSIGHT_DATA_DIR``, ``TAILSIGHT_TOKEN`` …);
3. a config file, TOML or YAML, named by ``--config`` or ``TAILSIGHT_CONFIG``, whose keys
   are the setting names (``data_dir`` or ``data-dir``);
4. the defaults below.

This module is the only place that reads ``TAILSIGHT_*`` variables.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ENV_PREFIX = "TAILSIGHT_"
ROLES = ("all", "receiver", "analyzer", "ui")


class ConfigError(ValueError):
    """A setting has a value that cannot be used; the message names the setting and its source."""


def default_data_dir() -> Path:
    """The per-user data directory: ``$XDG_DATA_HOME/tailsight`` or ``~/.local/share/tailsight``."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "tailsight"


@dataclass(frozen=True)
class Settings:
    """Resolved settings of one tailsight process."""

    # Store
    data_dir: Path = field(default_factory=default_data_dir)
    store: str | None = None  # URL; None means the embedded store under data_dir
    database: str = "otel"
    cluster: str | None = None  # render the schema for this ClickHouse cluster
    ttl_days: int = 30  # 0 keeps telemetry forever
    # Network
    host: str = "127.0.0.1"
    api_port: int = 8050
    otlp_http_port: int = 4318
    otlp_grpc_port: int = 4317
    token: str | None = None  # bearer token for ingest and API
    api_url: str | None = None  # a running `tailsight up` for the CLI to talk to
    # Ingest
    spool_dir: Path | None = None  # write-ahead spool; default <data_dir>/spool (server mode too)
    spool_max_bytes: int = 1 << 30  # past this, receivers answer 429/503 with Retry-After
    ingest_max_body_bytes: int = 16 << 20  # one request as sent (413 above)
    ingest_max_decompressed_bytes: int = 64 << 20  # one request after gzip (413 above)
    ingest_max_items: int = 200_000  # spans, data points or log records per request
    # Connections on the API and OTLP/HTTP ports (each port its own bound)
    http_max_connections: int = 2048  # more are closed at once, so file handles stay bounded
    http_header_timeout_s: float = 10.0  # a connection must send a request's headers in this
    http_body_timeout_s: float = 60.0  # and its body in this, once the headers are in
    http_keep_alive_s: float = 15.0  # an idle connection between requests is closed after this
    # Analysis
    analysis_interval_s: float = 5.0  # a cycle with nothing newly settled costs a few small queries
    analysis_settle_s: float = 5.0  # the newest 10 s window waits this long after it ends
    analysis_max_skew_s: float = 60.0  # data dated later than now + this is not analysed yet
    # Process roles (`tailsight up --role`): receiver, analyzer, ui, or all of them
    role: str = "all"
    # The analyzer lease (docs/leases.md): a dead holder's jobs resume elsewhere within this
    # plus a third of it; the holder renews every third of it.
    lease_ttl_s: float = 30.0
    # Where links in alerts and reports point (the UI as users reach it); default api_base_url
    external_url: str | None = None
    # SLOs and alerts (CONTRACT §6-7)
    slo_dir: Path | None = None  # OpenSLO YAML files; default <data_dir>/slos
    slo_interval_s: float = 10.0  # SLO evaluation and alert rules, every this many seconds
    incident_alerts: str = "slo"  # page on incidents of services with an SLO ("slo") or "all"
    alert_resolve_delay_s: float = 120.0  # an alert resolves once its condition is gone this long
    alert_repeat_interval_s: float = 4 * 3600.0  # a firing, unacknowledged alert is sent again
    notifiers: tuple[dict[str, Any], ...] = ()  # config file only: [{type: webhook, url: …}, …]
    smtp_url: str | None = None  # smtp://user:pass@host:port, for email alerts and reports
    smtp_from: str = "tailsight@localhost"
    # Weekly report (CONTRACT §8)
    report_schedule: str = "0 8 * * MON"  # cron, in report_timezone
    report_timezone: str = "UTC"
    report_email_to: str | None = None  # comma-separated addresses
    # Prometheus scrape (CONTRACT §1): Prometheus' own scrape_config syntax, config file only
    scrape_configs: tuple[dict[str, Any], ...] = ()
    # Node agent (`tailsight agent`)
    agent_endpoint: str | None = None  # OTLP endpoint: http(s)://host:4318 or grpc://host:4317
    agent_interval_s: float = 1.0  # collection and export interval
    # Report counters and steady gauges that did not move every interval too (default: only
    # in the last interval of each 10 s rollup window; see collectors/otlp.py).
    agent_report_unchanged: bool = False
    host_name: str | None = None  # host.name of this node; default NODE_NAME or the hostname
    sysfs_root: Path = Path("/sys")  # the host's /sys (mounted elsewhere in a container)
    procfs_root: Path = Path("/proc")  # the host's /proc
    pods_dir: Path = Path("/var/log/pods")  # kubelet's pod log dirs: pod UID -> name
    topology_file: Path | None = None  # static NIC -> switch port links (YAML)
    agent_top_processes: int = 10  # busiest processes reported besides the GPU ones
    # Process
    log_level: str = "info"
    shutdown_timeout_s: float = 15.0

    @property
    def store_url(self) -> str:
        """The store URL: ``--store`` when given, else the embedded store under ``data_dir``."""
        return self.store or f"chdb://{self.data_dir.expanduser().resolve()}"

    @property
    def slo_path(self) -> Path:
        """Where the OpenSLO definitions are read from."""
        return (self.slo_dir or self.data_dir / "slos").expanduser()

    @property
    def ui_base_url(self) -> str:
        """Where links to pages (incidents, SLOs, reports) point."""
        return (self.external_url or self.api_base_url).rstrip("/")

    @property
    def spool_path(self) -> Path:
        """Where the ingest spool lives."""
        return (self.spool_dir or self.data_dir / "spool").expanduser()

    @property
    def api_base_url(self) -> str:
        """Where this process' API listens, as a client would reach it."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.api_port}"


def _field_types() -> dict[str, Any]:
    hints = typing.get_type_hints(Settings)
    return {f.name: hints[f.name] for f in dataclasses.fields(Settings)}


def _coerce(name: str, raw: Any, source: str) -> Any:
    """Convert ``raw`` (a string from the environment or a file value) to the field's type."""
    kind = _field_types()[name]
    optional = False
    if typing.get_origin(kind) is tuple:  # a list of mappings: notifiers, scrape_configs
        return _coerce_mappings(name, raw, source)
    if isinstance(kind, types.UnionType):
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        optional = len(args) < len(typing.get_args(kind))
        kind = args[0]
    if raw is None or (optional and isinstance(raw, str) and raw == ""):
        if optional:
            return None
        raise ConfigError(f"{name} from {source}: a value is required")
    try:
        if kind is bool:
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if kind is Path:
            return Path(str(raw)).expanduser()
        if kind is int:
            if isinstance(raw, bool):
                raise ValueError(raw)
            return int(raw)
        if kind is float:
            return float(raw)
        return str(raw)
    except ValueError:
        raise ConfigError(f"{name} from {source}: {raw!r} is not a valid {kind.__name__}") from None


def _coerce_mappings(name: str, raw: Any, source: str) -> tuple[dict[str, Any], ...]:
    """A list of mappings, from a config file's list or an environment variable's YAML/JSON."""
    if isinstance(raw, str):
        try:
            raw = yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{name} from {source}: not YAML or JSON: {exc}") from None
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(item, dict) for item in raw):
        raise ConfigError(f"{name} from {source}: expected a list of mappings")
    return tuple(dict(item) for item in raw)


def read_config_file(path: Path) -> dict[str, Any]:
    """Read a TOML (``.toml``) or YAML (``.yaml``/``.yml``) config file into setting names."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"config file {path}: {exc.strerror}") from None
    try:
        if path.suffix == ".toml":
            data: Any = tomllib.loads(text)
        else:
            data = yaml.safe_load(text) or {}
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"config file {path}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path}: expected a mapping of settings at the top level")
    section = data.get("tailsight", data)
    known = _field_types()
    out: dict[str, Any] = {}
    for key, value in section.items():
        name = str(key).replace("-", "_")
        if name not in known:
            raise ConfigError(f"config file {path}: unknown setting {key!r}")
        out[name] = _coerce(name, value, f"config file {path}")
    return out


def load_settings(
    flags: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    config_file: Path | str | None = None,
) -> Settings:
    """Resolve settings from flags, environment and config file, in that precedence.

    ``flags`` maps setting names to values; ``None`` values mean "not given".
    """
    env = os.environ if env is None else env
    known = _field_types()
    values: dict[str, Any] = {}
    path = config_file or env.get(f"{ENV_PREFIX}CONFIG")
    if path:
        values.update(read_config_file(Path(path).expanduser()))
    for name in known:
        var = f"{ENV_PREFIX}{name.upper()}"
        if var in env:
            values[name] = _coerce(name, env[var], f"environment variable {var}")
    for name, value in (flags or {}).items():
        if value is None:
            continue
        if name not in known:
            raise ConfigError(f"unknown setting {name!r}")
        values[name] = _coerce(name, value, f"flag --{name.replace('_', '-')}")
    settings = Settings(**values)
    if settings.ttl_days < 0:
        raise ConfigError("ttl_days must be 0 (keep forever) or a positive number of days")
    if settings.agent_interval_s <= 0:
        raise ConfigError("agent_interval_s must be a positive number of seconds")
    if settings.agent_top_processes < 0:
        raise ConfigError("agent_top_processes must be 0 or more")
    if settings.lease_ttl_s <= 0:
        raise ConfigError("lease_ttl_s must be a positive number of seconds")
    if settings.role not in ROLES:
        raise ConfigError(f"role must be one of {', '.join(ROLES)}, not {settings.role!r}")
    if settings.incident_alerts not in ("slo", "all"):
        raise ConfigError('incident_alerts must be "slo" or "all"')
    for port in ("api_port", "otlp_http_port", "otlp_grpc_port"):
        if not 0 <= getattr(settings, port) <= 65535:
            raise ConfigError(f"{port} must be a TCP port number")
    return settings
