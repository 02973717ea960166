"""Fixtures of the alert tests: a recording HTTP peer on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.alerts.peers import HttpPeer


@pytest.fixture
def peer() -> Iterator[HttpPeer]:
    """An HTTP server on 127.0.0.1 that records requests (Slack, PagerDuty, webhook, Alertmanager)."""
    server = HttpPeer()
    try:
        yield server
    finally:
        server.stop()
