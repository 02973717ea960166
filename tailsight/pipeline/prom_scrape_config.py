"""``scrape_configs:`` in Prometheus' own syntax → frozen scrape jobs and targets.

Honoured per job: ``job_name``, ``scrape_interval`` (default 1m), ``scrape_timeout``
(default 10s, at most the interval), ``metrics_path``, ``scheme``, ``params``,
``honor_labels``, ``authorization`` (``type``, ``credentials``) or ``bearer_token``,
``basic_auth`` (``username``, ``password``), ``static_configs`` (``targets``,
``labels``) and ``file_sd_configs`` (``files``, globs allowed, JSON or YAML lists of
``{targets, labels}``; ``refresh_interval``, default 5m). In a target group's labels
the Prometheus meta labels ``__address__``, ``__scheme__``, ``__metrics_path__`` and
``__param_<name>`` set those per target, and Kubernetes-style annotations
(``prometheus.io/scrape``, ``/port``, ``/path``, ``/scheme``, also as the Kubernetes SD
meta labels ``__meta_kubernetes_pod_annotation_prometheus_io_scrape`` etc.) skip a
target or change its port, path and scheme. Other labels starting ``__`` and keys that
are not label names are dropped, as Prometheus drops them after relabelling.
Relabelling rules are not applied; a job that has them is refused with a clear error.
"""

from __future__ import annotations

import glob
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tailsight.config import ConfigError

_DURATION = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_ANNOTATION = {  # annotation spellings → what they set
    "prometheus.io/scrape": "scrape",
    "prometheus.io/port": "port",
    "prometheus.io/path": "path",
    "prometheus.io/scheme": "scheme",
    "__meta_kubernetes_pod_annotation_prometheus_io_scrape": "scrape",
    "__meta_kubernetes_pod_annotation_prometheus_io_port": "port",
    "__meta_kubernetes_pod_annotation_prometheus_io_path": "path",
    "__meta_kubernetes_pod_annotation_prometheus_io_scheme": "scheme",
    "__meta_kubernetes_service_annotation_prometheus_io_scrape": "scrape",
    "__meta_kubernetes_service_annotation_prometheus_io_port": "port",
    "__meta_kubernetes_service_annotation_prometheus_io_path": "path",
    "__meta_kubernetes_service_annotation_prometheus_io_scheme": "scheme",
}
_KNOWN = {
    "job_name", "scrape_interval", "scrape_timeout", "metrics_path", "scheme", "params",
    "honor_labels", "honor_timestamps", "authorization", "bearer_token", "basic_auth",
    "static_configs", "file_sd_configs", "sample_limit",
}  # fmt: skip


def parse_duration(text: Any, where: str) -> float:
    """Seconds of a Prometheus duration (``15s``, ``1m30s``, ``500ms``)."""
    raw = str(text).strip()
    parts = _DURATION.findall(raw)
    if not parts or "".join(n + u for n, u in parts) != raw:
        raise ConfigError(f"{where}: {text!r} is not a duration such as 15s, 1m or 500ms")
    return sum(int(n) * _UNITS[u] for n, u in parts)


@dataclass(frozen=True)
class Target:
    """One endpoint to scrape: its URL pieces and the labels its samples get."""

    address: str  # host:port
    scheme: str
    path: str
    params: tuple[tuple[str, str], ...]
    labels: tuple[tuple[str, str], ...]  # job, instance and the group's labels

    @property
    def url(self) -> str:
        query = "&".join(f"{k}={v}" for k, v in self.params)
        return f"{self.scheme}://{self.address}{self.path}" + (f"?{query}" if query else "")

    @property
    def instance(self) -> str:
        return dict(self.labels).get("instance", self.address)


@dataclass(frozen=True)
class ScrapeJob:
    """One ``scrape_config``."""

    name: str
    interval_s: float = 60.0
    timeout_s: float = 10.0
    metrics_path: str = "/metrics"
    scheme: str = "http"
    params: tuple[tuple[str, str], ...] = ()
    honor_labels: bool = False
    headers: tuple[tuple[str, str], ...] = ()
    basic_auth: tuple[str, str] | None = None
    static_groups: tuple[tuple[tuple[str, ...], tuple[tuple[str, str], ...]], ...] = ()
    sd_files: tuple[str, ...] = ()
    sd_refresh_s: float = 300.0
    extra: Mapping[str, Any] = field(default_factory=dict)

    def targets(self) -> list[Target]:
        """Static targets and those the ``file_sd_configs`` files list now."""
        groups = [(list(t), dict(lab)) for t, lab in self.static_groups]
        for pattern in self.sd_files:
            for path in sorted(glob.glob(pattern)) or []:
                groups += read_sd_file(Path(path))
        found: dict[tuple[str, tuple[tuple[str, str], ...]], Target] = {}
        for addresses, labels in groups:
            for address in addresses:
                target = self._target(address, labels)
                if target is not None:
                    found[(target.url, target.labels)] = target
        return list(found.values())

    def _target(self, address: str, group_labels: dict[str, str]) -> Target | None:
        labels = {"__address__": address, **group_labels}
        notes = {_ANNOTATION[k]: v for k, v in labels.items() if k in _ANNOTATION}
        if notes.get("scrape", "true").strip().lower() == "false":
            return None
        address = labels["__address__"]
        if "port" in notes and notes["port"].strip().isdigit():
            address = f"{address.rpartition(':')[0] or address}:{notes['port'].strip()}"
        scheme = notes.get("scheme") or labels.get("__scheme__") or self.scheme
        path = notes.get("path") or labels.get("__metrics_path__") or self.metrics_path
        params = dict(self.params)
        params.update({k[8:]: v for k, v in labels.items() if k.startswith("__param_")})
        kept = {k: v for k, v in labels.items() if _LABEL_NAME.match(k) and not k.startswith("__")}
        kept.setdefault("instance", address)
        kept["job"] = self.name
        return Target(address, scheme, path, tuple(sorted(params.items())),
                      tuple(sorted(kept.items())))  # fmt: skip


def read_sd_file(path: Path) -> list[tuple[list[str], dict[str, str]]]:
    """The target groups of a file_sd file (JSON or YAML list of ``{targets, labels}``)."""
    try:
        text = path.read_text()
        tree = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read target groups: {exc}") from None
    if tree is None:
        return []
    if not isinstance(tree, list):
        raise ConfigError(f"{path}: must be a list of {{targets, labels}} groups")
    groups = []
    for i, group in enumerate(tree):
        if not isinstance(group, dict) or not isinstance(group.get("targets", []), list):
            raise ConfigError(f"{path}[{i}]: a group is {{targets: [host:port, …], labels: {{…}}}}")
        labels = group.get("labels") or {}
        if not isinstance(labels, dict):
            raise ConfigError(f"{path}[{i}].labels: must be a mapping")
        groups.append(([str(t) for t in group.get("targets", [])],
                       {str(k): str(v) for k, v in labels.items()}))  # fmt: skip
    return groups


def parse_scrape_configs(configs: tuple[dict[str, Any], ...], base: Path | None = None) -> list[ScrapeJob]:
    """The scrape jobs of the ``scrape_configs`` setting; :class:`ConfigError` names the field."""
    jobs: list[ScrapeJob] = []
    names: set[str] = set()
    for i, raw in enumerate(configs):
        where = f"scrape_configs[{i}]"
        name = raw.get("job_name")
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{where}.job_name: required, a non-empty string")
        where = f"scrape_configs[{i}] ({name})"
        if name in names:
            raise ConfigError(f"{where}.job_name: {name!r} is used by an earlier job")
        names.add(name)
        for key in ("relabel_configs", "metric_relabel_configs"):
            if raw.get(key):
                raise ConfigError(f"{where}.{key}: relabelling is not supported by tailsight's scrape")
        unknown = sorted(set(raw) - _KNOWN - {"relabel_configs", "metric_relabel_configs"})
        if unknown:
            raise ConfigError(f"{where}: unknown field(s) {', '.join(unknown)}")
        interval = parse_duration(raw.get("scrape_interval", "1m"), f"{where}.scrape_interval")
        timeout = parse_duration(raw.get("scrape_timeout", "10s"), f"{where}.scrape_timeout")
        timeout = min(timeout, interval) if "scrape_timeout" not in raw else timeout
        if timeout > interval:
            raise ConfigError(f"{where}.scrape_timeout: {raw['scrape_timeout']} is longer than "
                              f"scrape_interval {raw.get('scrape_interval', '1m')}")  # fmt: skip
        scheme = str(raw.get("scheme", "http"))
        if scheme not in ("http", "https"):
            raise ConfigError(f"{where}.scheme: {scheme!r} is not http or https")
        params = {str(k): str(v[0] if isinstance(v, list) else v)
                  for k, v in (raw.get("params") or {}).items()}  # fmt: skip
        headers: list[tuple[str, str]] = []
        auth = raw.get("authorization") or {}
        token = auth.get("credentials") or raw.get("bearer_token")
        if token:
            headers.append(("authorization", f"{auth.get('type', 'Bearer')} {token}"))
        basic = raw.get("basic_auth")
        static = []
        for j, group in enumerate(raw.get("static_configs") or []):
            targets = group.get("targets") if isinstance(group, dict) else None
            if not isinstance(targets, list):
                raise ConfigError(f"{where}.static_configs[{j}].targets: a list of host:port")
            labels = {str(k): str(v) for k, v in (group.get("labels") or {}).items()}
            static.append((tuple(str(t) for t in targets), tuple(sorted(labels.items()))))
        files: list[str] = []
        refresh = 300.0
        for j, sd in enumerate(raw.get("file_sd_configs") or []):
            if not isinstance(sd, dict) or not isinstance(sd.get("files"), list):
                raise ConfigError(f"{where}.file_sd_configs[{j}].files: a list of file paths")
            for f in sd["files"]:
                p = Path(str(f)).expanduser()
                files.append(str(p if p.is_absolute() or base is None else base / p))
            if "refresh_interval" in sd:
                refresh = min(refresh, parse_duration(sd["refresh_interval"],
                                                      f"{where}.file_sd_configs[{j}].refresh_interval"))
        jobs.append(ScrapeJob(
            name=name, interval_s=interval, timeout_s=timeout,
            metrics_path=str(raw.get("metrics_path", "/metrics")), scheme=scheme,
            params=tuple(sorted(params.items())), honor_labels=bool(raw.get("honor_labels", False)),
            headers=tuple(headers),
            basic_auth=(str(basic.get("username", "")), str(basic.get("password", "")))
            if isinstance(basic, dict) else None,
            static_groups=tuple(static), sd_files=tuple(files), sd_refresh_s=refresh,
        ))  # fmt: skip
    return jobs
