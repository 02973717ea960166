"""The seam between ``tailsight up`` and what it hosts: OTLP receivers, the scheduler, the UI."""

from __future__ import annotations

from typing import Protocol

from starlette.routing import BaseRoute


class Component(Protocol):
    """Something ``tailsight up`` runs: it may add routes to the API port and run in the background.

    ``start`` returns once the component is ready (listening, replayed, scheduled);
    ``stop`` returns once it has finished its work and released what it holds.
    Components start in order and stop in reverse order.
    """

    name: str

    def routes(self) -> list[BaseRoute]:
        """Routes served on the API port (8050), e.g. ``/metrics`` or the Dash UI."""
        ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...
