"""Small building blocks every page uses: panels, tables, links that keep the range, numbers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import Any

import plotly.graph_objects as go
from dash import dcc, html

from tailsight.dashboards.timerange import TimeRange
from tailsight.storage.store import Store

GRAPH_CONFIG: Any = {"displaylogo": False, "responsive": True, "displayModeBar": False}


@dataclass(frozen=True)
class PageContext:
    """What a page is rendered from: the store, the range in the URL, and the SLO source."""

    store: Store
    range: TimeRange
    now: datetime
    slos: Any = None  # a tailsight.dashboards.slo_source.SloSource, when one is wired

    def href(self, path: str) -> str:
        """``path`` with the current range, so navigation keeps it."""
        return path + self.range.query


def panel(title: str, *children: Any, note: str = "", wide: bool = False) -> html.Section:
    """A titled panel; ``note`` says in one sentence what it shows."""
    head: list[Any] = [html.H2(title)]
    if note:
        head.append(html.P(note, className="note"))
    return html.Section([*head, *children], className="panel wide" if wide else "panel")


def graph(figure: go.Figure, graph_id: str, height: int = 320) -> dcc.Graph:
    height = int(figure.layout.height or height)
    figure.update_layout(height=height)
    return dcc.Graph(
        id=graph_id, figure=figure, config=GRAPH_CONFIG, style={"height": f"{height}px"}
    )


def table(
    headers: Sequence[str], rows: Sequence[Sequence[Any]], table_id: str = "", empty: str = ""
) -> html.Div:
    """A plain HTML table (light to load, readable on a wall screen).

    A table of text and ``html`` elements only goes to the browser as one HTML string
    (``dcc.Markdown`` sets it as the inner HTML of one element): Dash renders each of its
    components through its own wrapper, which for the 60-row tables of the GPU and fabric
    pages (~900 cells) took seconds in the browser. Tables with ``dcc.Link`` cells (which
    navigate without reloading the page) stay components.
    """
    if not rows:
        return html.Div(empty or "nothing in this range", className="empty")
    body = [html.Tr([html.Td(c) for c in row]) for row in rows]
    attrs: dict[str, Any] = {"id": table_id} if table_id else {}
    whole = html.Table(
        [html.Thead(html.Tr([html.Th(h) for h in headers])), html.Tbody(body)], **attrs
    )
    try:
        markup = to_html(whole)
    except TypeError:  # a cell that only a component can be
        return html.Div(whole, className="table-wrap")
    return html.Div(
        dcc.Markdown(markup, dangerously_allow_html=True, className="table-html"),
        className="table-wrap",
    )


def to_html(node: Any) -> str:
    """HTML for text and ``dash.html`` elements (``id``, ``className``, ``title``, children).

    ``TypeError`` for anything else, such as a ``dcc`` component. One line: a blank line
    would end the Markdown HTML block.
    """
    if node is None:
        return ""
    if isinstance(node, str | int | float):
        return escape(str(node)).replace("\n", " ")
    if isinstance(node, list | tuple):
        return "".join(to_html(child) for child in node)
    if getattr(node, "_namespace", None) != "dash_html_components":
        raise TypeError(f"not an html element: {type(node).__name__}")
    extra = set(node._prop_names) & {k for k, v in vars(node).items() if v is not None}
    if extra - {"children", "id", "className", "title"}:
        raise TypeError(f"{type(node).__name__} with {sorted(extra)}")
    tag = type(node).__name__.lower()
    attrs = "".join(
        f' {name}="{escape(str(value))}"'
        for name, value in (
            ("id", getattr(node, "id", None)),
            ("class", getattr(node, "className", None)),
            ("title", getattr(node, "title", None)),
        )
        if value is not None
    )
    return f"<{tag}{attrs}>{to_html(getattr(node, 'children', None))}</{tag}>"


def link(ctx: PageContext, text: str, path: str, **attrs: Any) -> dcc.Link:
    return dcc.Link(text, href=ctx.href(path), **attrs)


def page(title: str, *children: Any, subtitle: Any = "") -> html.Div:
    head: list[Any] = [html.H1(title)]
    if subtitle:
        head.append(html.Div(subtitle, className="subtitle"))
    return html.Div(
        [html.Header(head, className="page-head"), html.Div(children, className="grid")]
    )


def error_page(message: str) -> html.Div:
    return html.Div([html.H1("Cannot show this page"), html.P(message, className="error")])


def ms(value: float) -> str:
    if value != value:  # NaN
        return "–"
    return f"{value:,.0f} ms" if value >= 10 else f"{value:.1f} ms"


def pct(value: float) -> str:
    return "–" if value != value else f"{value:.0%}"


def rate(value: float, unit: str = "/s") -> str:
    if value != value:
        return "–"
    for factor, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.1f}{suffix}{unit}"
    return f"{value:.1f}{unit}" if value < 10 else f"{value:.0f}{unit}"


def when(ts: datetime | None) -> str:
    return "ongoing" if ts is None else ts.strftime("%Y-%m-%d %H:%M:%S UTC")


def cause_badge(kind: str) -> html.Span:
    return html.Span(kind.replace("_", " "), className=f"badge {kind}")
