"""Runs the analyzer role's components only while this process holds the analyzer lease.

A cluster may start several analyzer processes (a rolling update, a second replica as a
standby); the lease (``storage/lease.py``) lets one of them evaluate at a time and hands
over within ``lease_ttl_s`` plus one step when the holder dies. The components are
started when the lease is won and stopped when it is lost or about to lapse; ``stop``
waits for a job already running (a thread cannot be interrupted), which is why the holder
stops ``margin`` before its claim expires (docs/leases.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from tailsight.app.component import Component
from tailsight.model import iso
from tailsight.storage.lease import Lease

log = logging.getLogger(__name__)


def _utc(ts: datetime) -> datetime:
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts


class LeaseHolder:
    """A :class:`Component` that runs ``components`` while ``lease`` is held.

    Args:
        lease: the lease to hold.
        components: started in order on winning the lease, stopped in reverse on losing it.
        step_s: seconds between lease steps (renewals by the holder, checks by a standby);
            default a third of the lease's ttl.
    """

    def __init__(
        self, lease: Lease, components: Sequence[Component], step_s: float | None = None
    ) -> None:
        self.lease = lease
        self.components = list(components)
        self.name = f"lease:{lease.name}"
        self.step_s = step_s if step_s is not None else lease.ttl_s / 3
        self.running = False
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    def problems(self) -> list[str]:
        """What the components it runs report wrong (``/api/v1/health``), while they run."""
        if not self.running:
            return []
        checks = [c.problems for c in self.components if hasattr(c, "problems")]
        return [p for check in checks for p in check()]

    def routes(self) -> list[BaseRoute]:
        return [
            Route(f"/api/v1/leases/{self.lease.name}", self._status, methods=["GET"]),
            *(r for c in self.components for r in c.routes()),
        ]

    async def _status(self, request: Request) -> JSONResponse:
        state = self.lease.last
        return JSONResponse(
            {
                "name": self.lease.name,
                "me": self.lease.holder,
                "held": self.lease.held(),
                "running": self.running,
                "term": state.term if state else None,
                "holder": (state.holder or None) if state else None,
                "expires_at": iso(_utc(state.expires_at)) if state else None,
            }
        )

    async def start(self) -> None:
        self._stop.clear()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._stop_components()
        await asyncio.get_running_loop().run_in_executor(None, self.lease.release)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._stop.is_set():
            try:
                held = await loop.run_in_executor(None, self.lease.step)
            except Exception:  # a failed step must not end the loop; the deadline still rules
                log.exception("lease %s: step failed", self.lease.name)
                held = self.lease.held()
            if held and not self.running:
                await self._start_components()
            elif not held and self.running:
                await self._stop_components()
            # Wake at the next step, or at the deadline when it comes first (renewals failing).
            wait = self.step_s
            if self.running:
                wait = min(wait, max(0.0, self.lease.seconds_left()))
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stop.wait(), wait)
            if self.running and not self.lease.held():
                await self._stop_components()

    async def _start_components(self) -> None:
        log.info(
            "lease %s won (term %s): starting %s",
            self.lease.name,
            self.lease.term,
            ", ".join(c.name for c in self.components),
        )
        self.running = True
        for component in self.components:
            await component.start()

    async def _stop_components(self) -> None:
        if not self.running:
            return
        self.running = False
        log.info(
            "lease %s: stopping %s", self.lease.name, ", ".join(c.name for c in self.components)
        )
        for component in reversed(self.components):
            try:
                await component.stop()
            except Exception:
                log.exception("%s did not stop cleanly", component.name)
