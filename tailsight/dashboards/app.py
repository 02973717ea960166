"""The Dash application: one shell (navigation, range picker, auto-refresh) and an explicit router.

Why an explicit router rather than ``dash.register_page``: pages need the store, and
``register_page`` keeps pages and callbacks in process-wide registries, so two apps in
one process (tests, a second ``up``) would share them. Here each page module exposes
``ROUTE`` (a path pattern) and ``render(ctx, **params)``; one callback, ``show_page``,
renders the page the URL names in one request, and pages with something to pick add
their own small callbacks through ``register(app, store)``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from dash import Dash, Input, Output, State, callback_context, dcc, html, no_update
from flask import Flask

from tailsight.dashboards import style
from tailsight.dashboards.pages import PAGES
from tailsight.dashboards.timerange import DEFAULT_FROM, PRESETS, parse_range, range_query
from tailsight.dashboards.ui import PageContext, error_page
from tailsight.storage.store import Store, StoreError

log = logging.getLogger(__name__)

NAV = (("Fleet", "/"), ("GPUs", "/gpus"), ("Fabric", "/fabric"), ("SLOs", "/slos"))
REFRESH = (("off", 0), ("10 s", 10), ("30 s", 30), ("1 min", 60), ("5 min", 300))


def build_dash(store: Store, slos: Any = None, refresh_s: int = 60) -> Dash:
    """The UI served at ``/`` of the API port; ``slos`` is an optional SLO data source."""
    app = Dash(
        __name__,
        server=Flask("tailsight.dashboards"),  # type: ignore[arg-type]
        title="tailsight",
        update_title=None,  # type: ignore[arg-type]
        suppress_callback_exceptions=True,
        serve_locally=True,
    )
    app.index_string = style.INDEX
    app.layout = shell(refresh_s)
    routes = [(re.compile(p.ROUTE), p.render) for p in PAGES]

    @app.callback(
        Output("page", "children"),
        Input("url", "pathname"),
        Input("url", "search"),
        Input("refresh", "n_intervals"),
    )
    def show_page(pathname: str | None, search: str | None, _ticks: int | None) -> Any:
        return render_path(store, routes, pathname or "/", search, slos)

    @app.callback(
        Output("url", "search"),
        Output("range-from", "value"),
        Output("range-to", "value"),
        Output("preset", "value"),
        Input("url", "search"),
        Input("preset", "value"),
        Input("apply", "n_clicks"),
        Input("range-from", "n_submit"),
        Input("range-to", "n_submit"),
        State("range-from", "value"),
        State("range-to", "value"),
    )
    def sync_range(
        search: str | None,
        preset: str | None,
        _clicks: Any,
        _submit_from: Any,
        _submit_to: Any,
        typed_from: str | None,
        typed_to: str | None,
    ) -> tuple[Any, Any, Any, Any]:
        """The URL holds the range; the picker shows it and writes a new one into it."""
        trigger = callback_context.triggered_id
        if trigger == "preset" and preset:
            wanted = range_query(preset, "now")
            return (no_update if wanted == search else wanted), preset, "now", preset
        if trigger in ("apply", "range-from", "range-to"):
            wanted = range_query(typed_from or DEFAULT_FROM, typed_to or "now")
            return (no_update if wanted == search else wanted), no_update, no_update, None
        try:
            r = parse_range(search, datetime.now(UTC))
        except ValueError:
            return no_update, no_update, no_update, None
        shown = r.from_text if r.from_text in PRESETS and r.to_text == "now" else None
        return no_update, r.from_text, r.to_text, shown

    @app.callback(
        [Output(f"nav-{i}", "href") for i in range(len(NAV))],
        Input("url", "search"),
    )
    def keep_range_in_nav(search: str | None) -> list[str]:
        try:
            query = parse_range(search, datetime.now(UTC)).query
        except ValueError:
            query = ""
        return [path + query for _, path in NAV]

    @app.callback(
        Output("refresh", "interval"), Output("refresh", "disabled"), Input("every", "value")
    )
    def set_refresh(every: int | None) -> tuple[int, bool]:
        return max(1, every or 60) * 1000, not every

    for page in PAGES:
        register = getattr(page, "register", None)
        if register is not None:
            register(app, store)
    return app


def shell(refresh_s: int) -> html.Div:
    """What every page shares: the header with navigation, range picker and refresh."""
    nav = [
        dcc.Link(name, href=path, id=f"nav-{i}", className="nav")
        for i, (name, path) in enumerate(NAV)
    ]
    picker = html.Div(
        [
            dcc.Dropdown(
                id="preset",
                options=[{"label": f"last {p}", "value": p} for p in PRESETS],
                placeholder="range",
                clearable=False,
                searchable=False,
                className="preset",
            ),
            dcc.Input(
                id="range-from",
                type="text",
                placeholder="from (6h, ISO, unix)",
                debounce=True,
                className="range-input",
            ),
            dcc.Input(
                id="range-to",
                type="text",
                placeholder="to (now)",
                debounce=True,
                className="range-input",
            ),
            html.Button("Apply", id="apply", className="apply"),
            dcc.Dropdown(
                id="every",
                options=[{"label": f"refresh {label}", "value": s} for label, s in REFRESH],
                value=refresh_s,
                clearable=False,
                searchable=False,
                className="every",
            ),
        ],
        className="picker",
    )
    return html.Div(
        [
            dcc.Location(id="url", refresh="callback-nav"),
            dcc.Interval(id="refresh", interval=refresh_s * 1000, disabled=not refresh_s),
            html.Nav([html.Span("tailsight", className="brand"), *nav, picker], className="top"),
            dcc.Loading(html.Main(id="page"), type="dot", delay_show=400),
        ]
    )


def render_path(
    store: Store,
    routes: list[tuple[re.Pattern[str], Callable[..., Any]]],
    pathname: str,
    search: str | None,
    slos: Any = None,
) -> Any:
    """The page ``pathname`` names, for the range in ``search``; an error page when it cannot."""
    now = datetime.now(UTC)
    try:
        time_range = parse_range(search, now)
    except ValueError as exc:
        return error_page(f"bad time range: {exc}")
    ctx = PageContext(store, time_range, now, slos)
    for pattern, render in routes:
        match = pattern.match(pathname)
        if match:
            try:
                return render(ctx, **match.groupdict())
            except StoreError as exc:
                log.warning("page %s: %s", pathname, exc)
                return error_page(f"the store did not answer: {exc}")
            except LookupError as exc:
                return error_page(str(exc.args[0]) if exc.args else str(exc))
    return error_page(f"no page at {pathname}")
