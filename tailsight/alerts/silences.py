"""Silences: label matchers that mute notifications for a while, as Alertmanager's do.

A matcher is ``name=value``, ``name!=value``, ``name=~regex`` or ``name!~regex``; a
silence mutes an alert whose labels satisfy all of its matchers between ``starts_at`` and
``ends_at``. A muted alert still fires and is listed (``silenced: true``); only its
notifications wait until the silence ends.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tailsight.model import iso

_MATCHER = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$")
OPS = ("=", "!=", "=~", "!~")


@dataclass(frozen=True)
class Matcher:
    """One label condition of a silence."""

    name: str
    op: str
    value: str

    def __post_init__(self) -> None:
        if self.op not in OPS:
            raise ValueError(f"matcher operator must be one of {', '.join(OPS)}, not {self.op!r}")
        if self.op in ("=~", "!~"):
            try:
                re.compile(self.value)
            except re.error as exc:
                raise ValueError(f"matcher {self}: bad regular expression: {exc}") from None

    @classmethod
    def parse(cls, text: str) -> Matcher:
        """``service=embedder`` and the like; ``ValueError`` says what is wrong."""
        m = _MATCHER.match(text)
        if not m:
            raise ValueError(
                f"bad matcher {text!r}: use name=value, name!=value, name=~regex or name!~regex"
            )
        name, op, value = m.groups()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        return cls(name, op, value)

    def matches(self, labels: dict[str, str]) -> bool:
        given = labels.get(self.name, "")
        if self.op == "=":
            return given == self.value
        if self.op == "!=":
            return given != self.value
        hit = re.fullmatch(self.value, given) is not None
        return hit if self.op == "=~" else not hit

    def __str__(self) -> str:
        return f"{self.name}{self.op}{self.value}"


@dataclass(frozen=True)
class Silence:
    """Mutes the alerts matching all ``matchers`` from ``starts_at`` until ``ends_at``."""

    id: str
    matchers: tuple[Matcher, ...]
    starts_at: datetime
    ends_at: datetime
    created_by: str = ""
    comment: str = ""

    @classmethod
    def new(
        cls,
        matchers: list[str],
        now: datetime,
        duration: timedelta,
        created_by: str = "",
        comment: str = "",
    ) -> Silence:
        if not matchers:
            raise ValueError("a silence needs at least one matcher (e.g. service=embedder)")
        if duration <= timedelta(0):
            raise ValueError("a silence needs a positive duration")
        parsed = tuple(Matcher.parse(m) for m in matchers)
        return cls(uuid.uuid4().hex[:16], parsed, now, now + duration, created_by, comment)

    def active(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at

    def mutes(self, labels: dict[str, str], now: datetime) -> bool:
        return self.active(now) and all(m.matches(labels) for m in self.matchers)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "matchers": [str(m) for m in self.matchers],
            "starts_at": iso(self.starts_at),
            "ends_at": iso(self.ends_at),
            "created_by": self.created_by,
            "comment": self.comment,
        }


def silenced(labels: dict[str, str], silences: list[Silence], now: datetime) -> bool:
    """Whether any active silence mutes an alert with ``labels``."""
    return any(s.mutes(labels, now) for s in silences)
