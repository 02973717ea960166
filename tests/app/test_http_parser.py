"""The OTLP/HTTP and API ports parse HTTP/1.1 with httptools, not the pure-Python h11."""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from tailsight.app.runner import AsgiServer


async def _app(scope: Any, receive: Any, send: Any) -> None:  # pragma: no cover - never served
    pass


def test_uvicorn_picks_the_c_parser() -> None:
    # uvicorn's "auto" takes httptools when it imports (a dependency for that reason: it
    # costs ~0.5 µs less Python time per ingested span than h11, bench/README.md).
    config = AsgiServer("otlp-http", _app, "127.0.0.1", 0).config
    config.load()
    # (subclassed by app/http_guard.py for its connection limits)
    assert issubclass(config.http_protocol_class, HttpToolsProtocol)
