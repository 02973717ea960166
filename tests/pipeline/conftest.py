"""A running ingest pipeline (writer, OTLP/HTTP, OTLP/gRPC, the API port's ingest routes) in this process."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from tailsight.app.api import ApiState, build_api
from tailsight.app.component import Component
from tailsight.app.runner import AsgiServer
from tailsight.config import Settings
from tailsight.pipeline.component import ingest_components
from tailsight.pipeline.writer import SpoolWriter
from tailsight.storage import Store
from tests.conftest import free_port


@dataclass
class Pipeline:
    """Handles on a running pipeline for a test."""

    settings: Settings
    store: Store
    writer: SpoolWriter
    loop: asyncio.AbstractEventLoop
    components: list[Component]

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.settings.otlp_http_port}"

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.settings.api_port}"

    @property
    def grpc(self) -> str:
        return f"127.0.0.1:{self.settings.otlp_grpc_port}"

    def wait_rows(self, table: str, n: int, timeout: float = 20.0) -> int:
        """Wait (bounded) until ``table`` holds at least ``n`` rows; the count."""
        deadline = time.monotonic() + timeout
        count = 0
        while time.monotonic() < deadline:
            count = int(self.store.rows(f"SELECT count() FROM {table}")[0][0])
            if count >= n:
                return count
            time.sleep(0.1)
        return count

    def idle(self, timeout: float = 20.0) -> None:
        """Wait (bounded) until the spool is empty: every acknowledged request is written."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.writer.spool.size == 0:
                return
            time.sleep(0.05)
        raise AssertionError(f"spool still holds {self.writer.spool.size} bytes")


def run_pipeline(store: Store, tmp: Path, **overrides: Any) -> Iterator[Pipeline]:
    settings = replace(
        Settings(data_dir=tmp),
        otlp_http_port=free_port(),
        otlp_grpc_port=free_port(),
        api_port=free_port(),
        spool_dir=tmp / "spool",
        **overrides,
    )
    components: list[Component] = ingest_components(settings, store)
    # The API port with the routes the ingest components contribute (remote write, /metrics).
    routes = [r for c in components for r in c.routes()]
    components.append(
        AsgiServer("api", build_api(ApiState(store, settings.token), routes), "127.0.0.1",
                   settings.api_port)  # fmt: skip
    )
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def start() -> None:
        for c in components:
            await c.start()

    async def stop() -> None:
        for c in reversed(components):
            await asyncio.wait_for(c.stop(), 20)

    asyncio.run_coroutine_threadsafe(start(), loop).result(30)
    writer = components[0]
    assert isinstance(writer, SpoolWriter)
    try:
        yield Pipeline(settings, store, writer, loop, components)
    finally:
        asyncio.run_coroutine_threadsafe(stop(), loop).result(60)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


@pytest.fixture
def pipeline(store: Store, tmp_path: Path) -> Iterator[Pipeline]:
    """An ingest pipeline into the test's fresh store."""
    yield from run_pipeline(store, tmp_path / "ingest")
