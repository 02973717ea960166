"""The pages, one module each: ``ROUTE`` (a path pattern), ``render(ctx, **params)``, and
optionally ``register(app, store)`` for the page's own callbacks. Order is match order."""

from __future__ import annotations

from types import ModuleType

from tailsight.dashboards.pages import fabric, fleet, gpus, incident, service, slos

PAGES: tuple[ModuleType, ...] = (fleet, service, incident, gpus, fabric, slos)
