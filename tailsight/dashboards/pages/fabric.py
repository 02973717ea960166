"""Fabric (``/fabric``): switch ↔ node links, each link's NIC side beside its switch side, port utilization."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from dash import html

from tailsight.analysis.fleet import (
    CONGESTED,
    NIC_COUNTERS,
    NIC_SPEED,
    PORT_COUNTERS,
    PORT_SPEED,
    congestion_score,
)
from tailsight.dashboards import figures as fig
from tailsight.dashboards.pages.fleet import COUNTER_MIN_STEP
from tailsight.dashboards.ui import PageContext, graph, page, panel, pct, rate, table, when
from tailsight.storage.dashboard_links import link_summaries
from tailsight.storage.dashboard_metrics import fabric_links, lldp_neighbors

ROUTE = r"^/fabric/?$"
TOP_PORTS = 40
MAX_LINK_ROWS = 60  # the links table lists the most congested links, not a whole fleet's


def render(ctx: PageContext) -> html.Div:
    r = ctx.range
    step = max(r.step_s, COUNTER_MIN_STEP)
    links = fabric_links(ctx.store, r.start, r.end)
    lldp = lldp_neighbors(ctx.store, r.start, r.end)
    ports = link_summaries(
        ctx.store, PORT_COUNTERS, PORT_SPEED, r.start, r.end, step, switch_side=True
    )
    nics = link_summaries(
        ctx.store, NIC_COUNTERS, NIC_SPEED, r.start, r.end, step, switch_side=False
    )
    joined = both_sides(links, nics, ports)
    return page(
        "Network fabric",
        panel(
            "Topology",
            graph(topology_figure(links, lldp, ports), "topology", 420),
            note="Nodes (bottom) to leaf switches (from tailsight.nic.link), leaves to spines (from LLDP); "
            "a red link carried ECN marks, PFC pauses or discards in the range.",
            wide=True,
        ),
        panel(
            "Links: NIC side and switch side",
            links_table(joined),
            note="Each node NIC beside the switch port at its other end, most congested first "
            f"(the first {MAX_LINK_ROWS} of {len(joined)}): peak per-second rates and utilization "
            "(busier direction over link speed).",
            wide=True,
        ),
        panel(
            "Port utilization against speed",
            graph(utilization_figure(ports), "port-utilization", 360),
            note=f"The {TOP_PORTS} busiest switch ports: mean and peak utilization of the port speed.",
            wide=True,
        ),
        subtitle=f"{when(r.start)} – {when(r.end)}",
    )


def both_sides(links: pd.DataFrame, nics: pd.DataFrame, ports: pd.DataFrame) -> pd.DataFrame:
    """One row per NIC → port link with the NIC's columns (``nic_``) and the port's (``port_``)."""
    if links.empty:
        return pd.DataFrame()
    nic = nics.rename(
        columns={c: f"nic_{c}" for c in nics.columns if c not in ("host", "interface")}
    )
    port = ports.rename(
        columns={c: f"port_{c}" for c in ports.columns if c not in ("switch", "interface")}
    )
    port = port.rename(columns={"interface": "port"})
    out = links.merge(nic, on=["host", "interface"], how="left").merge(
        port, on=["switch", "port"], how="left"
    )
    nic_score = (
        congestion_score(nics.set_index(["host", "interface"]))
        if not nics.empty
        else pd.Series(dtype=float)
    )
    port_score = (
        congestion_score(ports.set_index(["switch", "interface"]))
        if not ports.empty
        else pd.Series(dtype=float)
    )
    out["score"] = [
        float(nic_score.get((h, i), 0.0)) + float(port_score.get((s, p), 0.0))
        for h, i, s, p in zip(
            out["host"], out["interface"], out["switch"], out["port"], strict=True
        )
    ]
    return out.sort_values(["score", "switch", "port"], ascending=[False, True, True]).reset_index(
        drop=True
    )


def links_table(joined: pd.DataFrame) -> html.Div:
    if joined.empty:
        return table([], [], "links-table", "no tailsight.nic.link topology reported in this range")

    def get(row: pd.Series, name: str) -> float:
        value = row.get(name)
        return float(value) if value is not None else float("nan")

    rows = []
    for _, x in joined.head(MAX_LINK_ROWS).iterrows():
        rows.append(
            [
                html.Span(f"{x['host']}/{x['interface']}", className="culprit"),
                pct(get(x, "nic_util_peak")),
                rate(get(x, "nic_ecn_peak")),
                rate(get(x, "nic_cnp_sent_peak")),
                rate(get(x, "nic_cnp_handled_peak")),
                rate(get(x, "nic_pfc_peak")),
                rate(get(x, "nic_discards_peak")),
                html.Span(
                    f"{x['switch']}/{x['port']}",
                    className="culprit hot" if x["score"] >= CONGESTED else "culprit",
                ),
                pct(get(x, "port_util_peak")),
                rate(get(x, "port_ecn_peak")),
                rate(get(x, "port_pfc_peak")),
                rate(get(x, "port_discards_peak")),
            ]
        )
    return table(
        [
            "NIC",
            "util.",
            "ECN",
            "CNP sent",
            "CNP handled",
            "PFC",
            "drops",
            "switch port",
            "util.",
            "ECN",
            "PFC",
            "discards",
        ],
        rows,
        "links-table",
    )


def utilization_figure(ports: pd.DataFrame) -> go.Figure:
    if ports.empty or ports["util_peak"].isna().all():
        return fig.empty_figure("no switch port traffic stored in this range")
    top = (
        ports.dropna(subset=["util_peak"]).sort_values("util_peak", ascending=False).head(TOP_PORTS)
    )
    names = top["switch"] + "/" + top["interface"]
    figure = fig.new_figure()
    figure.add_bar(x=names, y=top["util_mean"], name="mean", marker_color=fig.COLORS[0])
    figure.add_bar(x=names, y=top["util_peak"], name="peak", marker_color=fig.COLORS[1])
    figure.update_layout(barmode="group", hovermode="closest")
    figure = fig.styled(figure, "utilization of speed")
    figure.update_yaxes(tickformat=".0%")
    return figure


def topology_figure(links: pd.DataFrame, lldp: pd.DataFrame, ports: pd.DataFrame) -> go.Figure:
    """Three rows: spines, leaves, nodes; edges red where the port saw congestion."""
    if links.empty:
        return fig.empty_figure("no topology (tailsight.nic.link) reported in this range")
    leaves = sorted(set(links["switch"]))
    hosts = sorted(set(links["host"]))
    known = set(leaves) | set(hosts)
    spines = sorted({n for n in lldp["neighbor"] if n and n not in known}) if not lldp.empty else []
    pos: dict[str, tuple[float, float]] = {}
    for layer, names, y in ((spines, spines, 2.0), (leaves, leaves, 1.0), (hosts, hosts, 0.0)):
        for i, name in enumerate(names):
            pos[name] = ((i + 0.5) / max(len(layer), 1), y)
    hot = set()
    if not ports.empty:
        scored = ports.assign(score=congestion_score(ports))
        hot = {
            (s, p)
            for s, p, v in zip(scored["switch"], scored["interface"], scored["score"], strict=True)
            if v >= CONGESTED
        }
    edges = [(r.host, r.switch, (r.switch, r.port) in hot) for r in links.itertuples()]
    if not lldp.empty:
        edges += [
            (r.switch, r.neighbor, (r.switch, r.port) in hot)
            for r in lldp.itertuples()
            if r.neighbor in spines
        ]
    figure = fig.new_figure()
    for is_hot, color, width in ((False, "#cbd5e1", 1), (True, "#dc2626", 3)):
        xs: list[float | None] = []
        ys: list[float | None] = []
        for a, b, h in edges:
            if h == is_hot and a in pos and b in pos:
                xs += [pos[a][0], pos[b][0], None]
                ys += [pos[a][1], pos[b][1], None]
        figure.add_scatter(
            x=xs,
            y=ys,
            mode="lines",
            line={"color": color, "width": width},
            name="congested link" if is_hot else "link",
            hoverinfo="skip",
        )
    for names, symbol, color in (
        (spines, "diamond", "#7c3aed"),
        (leaves, "square", "#2563eb"),
        (hosts, "circle", "#16a34a"),
    ):
        figure.add_scatter(
            x=[pos[n][0] for n in names],
            y=[pos[n][1] for n in names],
            mode="markers+text" if len(names) <= 40 else "markers",
            text=names,
            textposition="top center",
            marker={"symbol": symbol, "size": 12, "color": color},
            hovertext=names,
            hoverinfo="text",
            showlegend=False,
        )
    figure = fig.styled(figure, "", legend=True)
    figure.update_xaxes(visible=False)
    figure.update_yaxes(visible=False, range=[-0.3, 2.4])
    figure.update_layout(hovermode="closest")
    return figure
