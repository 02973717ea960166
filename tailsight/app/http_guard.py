"""Bounds on the connections of a port served by uvicorn (the API and OTLP/HTTP ports).

uvicorn closes a connection idle after a response (keep-alive), but holds for ever one
that never sends a request, sends half its headers, or a chunked body that never ends:
20,200 such connections once used up the process' file handles. Each connection here has
one timer: the headers of a request must arrive within ``header_timeout_s`` of the
connection (or the request's first byte), its body within ``body_timeout_s`` of its
headers; past that the connection is closed (the app sees a disconnect). Connections
past ``max_connections`` are closed as soon as they are accepted.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from tailsight.config import Settings
from tailsight.logs import RateLimited

log = logging.getLogger(__name__)
_said = RateLimited(log, every_s=60.0)


@dataclass(frozen=True)
class ConnectionLimits:
    """What one port allows a connection."""

    max_connections: int = 2048
    header_timeout_s: float = 10.0
    body_timeout_s: float = 60.0
    keep_alive_s: float = 15.0


def connection_limits(settings: Settings) -> ConnectionLimits:
    """The limits ``settings`` give every HTTP port."""
    return ConnectionLimits(
        settings.http_max_connections,
        settings.http_header_timeout_s,
        settings.http_body_timeout_s,
        settings.http_keep_alive_s,
    )


def guarded_protocol(limits: ConnectionLimits) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol with ``limits`` enforced."""

    class Guarded(HttpToolsProtocol):
        _guard: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if len(self.connections) > limits.max_connections:
                _said.warning(
                    "more than %d connections on port %s: closing new ones",
                    limits.max_connections,
                    self.server[1] if self.server else "?",
                )
                transport.close()
                return
            self._arm(limits.header_timeout_s)

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._arm(limits.header_timeout_s)

        def on_headers_complete(self) -> None:
            self._arm(limits.body_timeout_s)
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            self._disarm()
            super().on_message_complete()

        def _arm(self, seconds: float) -> None:
            self._disarm()
            self._guard = self.loop.call_later(seconds, self._expired)

        def _disarm(self) -> None:
            if self._guard is not None:
                self._guard.cancel()
                self._guard = None

        def _expired(self) -> None:
            self._guard = None
            if not self.transport.is_closing():
                _said.info("closed connections that did not send a whole request in time")
                self.transport.close()

    return Guarded


def uvicorn_options(limits: ConnectionLimits) -> dict[str, Any]:
    """``uvicorn.Config`` arguments enforcing ``limits``."""
    return {
        "http": guarded_protocol(limits),
        "timeout_keep_alive": limits.keep_alive_s,
        "limit_concurrency": limits.max_connections + 64,
    }
