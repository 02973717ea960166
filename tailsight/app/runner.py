"""Runs the API and the hosted components on one asyncio loop, and stops them cleanly.

Why one loop: the OTLP/gRPC server (grpc.aio), the OTLP/HTTP receiver and the API
(uvicorn/Starlette, ASGI) and the scheduler are all asyncio, so one process carries
them without threads fighting over the embedded store's single engine; blocking store
calls go to a thread pool. SIGTERM and SIGINT set one stop event; components then stop
in reverse order of starting (receivers first, so nothing new arrives while the spool
drains), and the caller closes the store last.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import socket
from collections.abc import Iterator, Sequence
from typing import Any

import uvicorn

from tailsight.app.api import ApiState, build_api
from tailsight.app.component import Component
from tailsight.app.http_guard import ConnectionLimits, connection_limits, uvicorn_options
from tailsight.config import Settings
from tailsight.storage.store import Store

log = logging.getLogger(__name__)


class BindError(OSError):
    """A port could not be listened on; the message says which and why."""


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket, or ``BindError`` with a one-line reason."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit TCP_NODELAY; without it a response sent as headers then
    # body waits ~40 ms for the client's delayed ACK (Nagle), e.g. every OTLP 400 answer.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
        sock.listen(1024)
    except OSError as exc:
        sock.close()
        raise BindError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.setblocking(False)
    return sock


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the runner."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class AsgiServer:
    """An ASGI app served by uvicorn on its own port, as a :class:`Component`."""

    def __init__(
        self,
        name: str,
        app: Any,
        host: str,
        port: int,
        log_level: str = "warning",
        limits: ConnectionLimits | None = None,
    ) -> None:
        self.name = name
        self._host, self._port = host, port
        options = uvicorn_options(limits or ConnectionLimits())
        self._server = _Server(
            uvicorn.Config(app, lifespan="off", log_level=log_level, access_log=False, **options)
        )
        self._task: asyncio.Task[None] | None = None

    @property
    def config(self) -> uvicorn.Config:
        return self._server.config

    def routes(self) -> list[Any]:
        return []

    async def start(self) -> None:
        sock = bind_socket(self._host, self._port)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            if self._task.done():
                self._task.result()
                raise BindError(f"{self.name} on {self._host}:{self._port} stopped while starting")
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        self._server.should_exit = True
        if self._task is not None:
            await self._task


class Runner:
    """Hosts the API and ``components`` until SIGTERM/SIGINT (or :meth:`request_stop`)."""

    def __init__(self, settings: Settings, store: Store, components: Sequence[Component]) -> None:
        self.settings = settings
        self.store = store
        self.components = list(components)
        self.state = ApiState(store, settings.token)
        # What /api/v1/health reports besides readiness: each component's problems, if it has any.
        self.state.checks = [c.problems for c in self.components if hasattr(c, "problems")]
        self._stop: asyncio.Event | None = None

    def request_stop(self) -> None:
        if self._stop is not None:
            self._stop.set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stop.set)
        routes = [route for c in self.components for route in c.routes()]
        api = AsgiServer(
            "api",
            build_api(self.state, routes),
            self.settings.host,
            self.settings.api_port,
            log_level="warning",
            limits=connection_limits(self.settings),
        )
        started: list[Component] = []
        try:
            for component in self.components:
                await component.start()
                started.append(component)
                log.info("%s started", component.name)
            await api.start()
            started.append(api)
            self.state.ready = True
            # What was imported and built by now lives as long as the process: frozen, the
            # cyclic collector's full passes stop walking it (they took ~11% of an ingesting
            # receiver's CPU, bench/README.md). Later objects are collected as usual.
            gc.freeze()
            log.info("tailsight is up: API %s", self.settings.api_base_url)
            await self._stop.wait()
            log.info("stopping")
        finally:
            self.state.ready = False
            for component in reversed(started):
                try:
                    await asyncio.wait_for(component.stop(), self.settings.shutdown_timeout_s)
                except Exception:
                    log.exception("%s did not stop cleanly", component.name)
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
