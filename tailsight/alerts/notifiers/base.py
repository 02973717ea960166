"""The notifier seam: one small Protocol, its error, and building notifiers from settings.

A notifier delivers one alert, firing or resolved, to one outside target. It neither
retries nor times itself out: :func:`~tailsight.alerts.notifiers.dispatch.deliver` does
that the same way for every target, so each notifier only says whether a failure is worth
retrying (:attr:`NotifyError.retryable`).

Settings come from the config file's ``notifiers:`` list (CONTRACT §7). Secrets (webhook
URLs with tokens, routing keys, SMTP passwords) are usually given as ``${ENV_VAR}``; every
value that could carry one is kept out of errors, logs and reprs.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

from tailsight.alerts.model import Alert
from tailsight.config import ConfigError

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
COMMON_KEYS = frozenset({"type", "name"})
REDACTED = "***"


@runtime_checkable
class Notifier(Protocol):
    """Delivers an alert to one outside target.

    Attributes:
        name: unique among the configured notifiers (``"slack"``, ``"webhook:ops"``); it is
            what each :class:`~tailsight.alerts.model.Delivery` names.
    """

    name: str

    async def notify(self, alert: Alert) -> None:
        """Send the firing or the resolved form of ``alert`` (by ``alert.state``).

        Raises:
            NotifyError: the target did not take it; the message is one line, no secrets.
        """
        ...


class NotifyError(Exception):
    """A target did not take an alert: a one-line reason, and whether trying again may help.

    Connection errors, timeouts, HTTP 5xx and 429 are retryable; any other refusal (a 4xx:
    a bad URL, a revoked token, a payload the target rejects) is not: it fails again.
    """

    def __init__(self, reason: str, *, retryable: bool, retry_after_s: float | None = None):
        super().__init__(" ".join(reason.split()) or "failed")
        self.retryable = retryable
        self.retry_after_s = retry_after_s  # what the target asked for (HTTP Retry-After)

    @property
    def reason(self) -> str:
        return str(self.args[0])


def headline(alert: Alert) -> str:
    """``[FIRING page] <summary>``, the first line of every notification, naming the service
    and the culprit even when the summary does not (each is added only where it is missing)."""
    text = alert.summary if alert.service in alert.summary else f"{alert.service}: {alert.summary}"
    cause = alert.root_cause
    if cause is not None and cause.culprit not in text:
        text += f" (culprit {cause.culprit})"
    return f"[{alert.state.upper()} {alert.severity}] {text}"


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret replaced by ``***`` (longest first, so none leaks in part)."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def public_url(url: str) -> str:
    """What of a URL may be shown: scheme, host and port (paths and queries hold tokens)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}/{REDACTED}"


def url_secrets(url: str) -> tuple[str, ...]:
    """The parts of a URL that may be secret: userinfo, path, query and the URL itself."""
    parts = urlsplit(url)
    found = [url, parts.query, parts.password or "", parts.username or ""]
    if parts.path not in ("", "/"):
        found.append(parts.path)
    return tuple(s for s in found if s)


@dataclass(frozen=True)
class NotifierSpec:
    """One entry of ``notifiers:`` with its ``${ENV}`` references expanded, and the shared
    settings a notifier may need. Field readers raise :class:`ConfigError` naming the entry
    and field, never a secret value."""

    index: int
    type: str
    name: str
    settings: Mapping[str, Any]
    smtp_url: str | None = None
    smtp_from: str = "tailsight@localhost"
    external_url: str | None = None

    @property
    def where(self) -> str:
        return f"notifiers[{self.index}] ({self.name})"

    def error(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.where}: {key}: {problem}")

    def check_keys(self, allowed: Iterable[str]) -> None:
        known = COMMON_KEYS | frozenset(allowed)
        for key in self.settings:
            if key not in known:
                raise self.error(
                    str(key),
                    f"unknown key for type {self.type} (known: {', '.join(sorted(known))})",
                )

    def text(self, key: str, default: str | None = None) -> str:
        raw = self.settings.get(key, default)
        if raw is None:
            raise self.error(key, "is required")
        if not isinstance(raw, str) or not raw.strip():
            raise self.error(key, "expected a non-empty string")
        return raw.strip()

    def http_url(self, key: str, default: str | None = None) -> str:
        """An absolute http(s) URL; the value is never echoed (it may hold a token)."""
        url = self.text(key, default)
        parts = urlsplit(url)
        try:
            parts.port  # noqa: B018 - raises on a port that is not a number
        except ValueError:
            raise self.error(key, "has a port that is not a number") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise self.error(key, "expected an http:// or https:// URL with a host")
        return url

    def number(self, key: str, default: float) -> float:
        raw = self.settings.get(key, default)
        if isinstance(raw, bool) or not isinstance(raw, int | float) or raw <= 0:
            raise self.error(key, f"expected a positive number of seconds, got {raw!r}")
        return float(raw)


def expand_env(value: Any, env: Mapping[str, str]) -> Any:
    """``value`` with every ``${VAR}`` in its strings replaced by the variable's value.

    Raises:
        KeyError: naming the first variable that is not set.
    """
    if isinstance(value, str):

        def sub(match: re.Match[str]) -> str:
            var = match.group(1)
            if var not in env:
                raise KeyError(var)
            return env[var]

        return _ENV_REF.sub(sub, value)
    if isinstance(value, list | tuple):
        return [expand_env(v, env) for v in value]
    if isinstance(value, Mapping):
        return {k: expand_env(v, env) for k, v in value.items()}
    return value


def _spec(
    index: int,
    raw: Any,
    *,
    smtp_url: str | None,
    smtp_from: str,
    external_url: str | None,
    env: Mapping[str, str],
) -> NotifierSpec:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"notifiers[{index}]: expected a mapping with a type, got {raw!r}")
    kind = raw.get("type")
    label = f"notifiers[{index}]"
    if not isinstance(kind, str) or not kind:
        raise ConfigError(f"{label}: type: is required (one of {', '.join(sorted(_builders()))})")
    try:
        settings = expand_env(dict(raw), env)
    except KeyError as exc:
        bad = [k for k, v in raw.items() if f"${{{exc.args[0]}}}" in repr(v)]
        where = f"{label} ({kind})"
        raise ConfigError(
            f"{where}: {bad[0] if bad else 'a value'}: "
            f"environment variable {exc.args[0]} is not set"
        ) from None
    extra = settings.get("name")
    if extra is not None and (not isinstance(extra, str) or not extra.strip()):
        raise ConfigError(f"{label} ({kind}): name: expected a non-empty string")
    name = f"{kind}:{extra.strip()}" if extra else kind
    return NotifierSpec(
        index=index,
        type=kind,
        name=name,
        settings=settings,
        smtp_url=smtp_url,
        smtp_from=smtp_from,
        external_url=external_url,
    )


def _builders() -> dict[str, Callable[[NotifierSpec], Notifier]]:
    # Imported here: each notifier module imports this one for NotifyError and NotifierSpec.
    from tailsight.alerts.notifiers import alertmanager, email, pagerduty, slack, webhook

    return {
        "alertmanager": alertmanager.from_spec,
        "email": email.from_spec,
        "pagerduty": pagerduty.from_spec,
        "slack": slack.from_spec,
        "webhook": webhook.from_spec,
    }


def build_notifiers(
    configs: Sequence[Mapping[str, Any]],
    smtp_url: str | None,
    smtp_from: str,
    external_url: str | None,
    env: Mapping[str, str] = os.environ,
) -> list[Notifier]:
    """The notifiers of ``Settings.notifiers``, in order; the first bad entry raises.

    Raises:
        ConfigError: naming the entry (``notifiers[2] (webhook:ops)``) and the field.
    """
    builders = _builders()
    out: list[Notifier] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(configs):
        spec = _spec(
            index,
            raw,
            smtp_url=smtp_url,
            smtp_from=smtp_from,
            external_url=external_url,
            env=env,
        )
        build = builders.get(spec.type)
        if build is None:
            raise spec.error(
                "type", f"unknown type {spec.type!r} (one of {', '.join(sorted(builders))})"
            )
        if spec.name in seen:
            raise spec.error(
                "name", f"{spec.name!r} is taken by notifiers[{seen[spec.name]}]; give each a name"
            )
        seen[spec.name] = index
        out.append(build(spec))
    return out
