"""The dashboards' arithmetic, figures and routing without a browser: hand-built frames, real stores."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tailsight.analysis.fleet import (
    NIC_COUNTERS,
    NIC_SPEED,
    gpu_hours,
    gpu_hours_of,
    link_side,
    service_table,
    worst_ports,
)
from tailsight.analysis.series import bucket_values
from tailsight.app.auth import COOKIE, authorized, token_matches
from tailsight.dashboards import figures as fig
from tailsight.dashboards.app import render_path
from tailsight.dashboards.evidence import chart_frame, evidence_series
from tailsight.dashboards.pages import PAGES, slos
from tailsight.dashboards.timerange import parse_range, step_for
from tailsight.dashboards.ui import PageContext
from tailsight.model import Cause, Entity, Incident
from tailsight.storage.store import Store

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
T0 = NOW - timedelta(hours=1)


def test_range_from_the_url() -> None:
    r = parse_range("", NOW)
    assert (r.start, r.end, r.query) == (NOW - timedelta(hours=6), NOW, "?from=6h&to=now")
    r = parse_range("?from=2026-11-22T10:00:00Z&to=1795348800", NOW)
    assert r.start == datetime(2026, 11, 22, 10, tzinfo=UTC)
    assert r.end == datetime.fromtimestamp(1795348800, UTC)
    assert parse_range("?from=24h", NOW).step_s == 600
    with pytest.raises(ValueError, match="from=yesterday"):
        parse_range("?from=yesterday", NOW)
    with pytest.raises(ValueError, match="not before"):
        parse_range("?from=1h&to=2h", NOW)
    assert step_for(900) == 10 and step_for(86400 * 7) == 3600


def test_bucket_values_rates_and_means() -> None:
    t = pd.Timestamp(T0)
    frame = pd.DataFrame(
        {
            "metric": ["g", "d", "c", "c", "c1", "c"],
            "kind": ["gauge", "sum", "sum", "sum", "sum", "sum"],
            "temporality": [0, 1, 2, 2, 2, 2],
            "t": [t] * 6,
            "first": [0.0, 0.0, 100.0, 500.0, 7.0, 100.0],
            "last": [0.0, 0.0, 700.0, 50.0, 7.0, 150.0],
            "first_time": [t] * 6,
            "last_time": [t, t, t + pd.Timedelta(seconds=60), t + pd.Timedelta(seconds=50), t]
            + [t + pd.Timedelta(seconds=100)],
            "total": [3.0, 120.0, 0.0, 0.0, 0.0, 0.0],
            "points": [4, 2, 7, 6, 1, 10],
            "peak": [1.0, 60.0, 700.0, 500.0, 7.0, 400.0],
        }
    )
    value = bucket_values(frame, 60.0)["value"].to_list()
    assert value[:4] == [0.75, 2.0, 10.0, 1.0]  # mean, delta/60 s, 600/60 s, reset: 50/50 s
    assert np.isnan(value[4])  # one point: no rate
    # Reset inside the bucket, the last point above the first: 100 -> 400, then 150 since.
    assert value[5] == 4.5


def test_evidence_rows_map_to_their_series() -> None:
    port = evidence_series("tailsight.switch.port.ecn_marked", "leaf3/Ethernet12")
    assert port and port.switches == ["leaf3"] and port.match == {"interface": "Ethernet12"}
    nic = evidence_series("tailsight.rdma.cnp.sent", "gpu-node-01/eth0")
    assert nic and nic.hosts == ["gpu-node-01"] and nic.match == {"interface": "eth0"}
    proc = evidence_series("tailsight.gpu.process.utilization", "gpu-node-05/2781996")
    assert proc and proc.match == {"pid": "2781996"}
    gpu = evidence_series("tailsight.gpu.process.utilization", "gpu-node-05/GPU-bca9")
    assert gpu and gpu.match == {"hw_id": "GPU-bca9"} and gpu.label_by == "pid"
    pod = evidence_series("tailsight.process.cpu.utilization", "batch/ffmpeg-7")
    assert pod and not pod.hosts and pod.match == {"pod": "ffmpeg-7", "namespace": "batch"}
    util = evidence_series("tailsight.switch.port.io:utilization", "leaf3/Ethernet12")
    assert util and util.speed == "tailsight.switch.port.speed"
    assert evidence_series("requests", "llm-gateway") is None


def test_utilization_chart_is_bits_over_speed() -> None:
    spec = evidence_series("system.network.io:utilization", "n1/eth0")
    assert spec is not None
    w = pd.Timestamp(T0)
    values = pd.DataFrame(
        {
            "metric": ["system.network.io", "system.network.io", "tailsight.nic.speed"],
            "interface": ["eth0"] * 3,
            "direction": ["receive", "transmit", ""],
            "window": [w] * 3,
            "value": [50e9 / 8, 10e9 / 8, 100e9],
        }
    )
    frame = chart_frame(values, spec).sort_values("label")
    assert frame["label"].to_list() == ["receive", "transmit"]
    assert frame["value"].round(3).to_list() == [0.5, 0.1]


def _link_values() -> pd.DataFrame:
    rows = []
    for i in range(3):
        t = pd.Timestamp(T0) + pd.Timedelta(minutes=2 * i)
        for host, ecn, rx in (("n1", 900.0 if i == 2 else 0.0, 11e9), ("n2", 0.5, 1e9)):
            rows += [
                ("tailsight.rdma.ecn_marked", host, "", t, ecn),
                ("system.network.io", host, "receive", t, rx),
                ("system.network.io", host, "transmit", t, rx / 2),
                (NIC_SPEED, host, "", t, 100e9),
            ]
    frame = pd.DataFrame(rows, columns=["metric", "host", "direction", "t", "value"])
    return frame.assign(interface="eth0")


def test_link_sides_and_the_worst_first() -> None:
    side = link_side(_link_values(), NIC_COUNTERS, NIC_SPEED, ["host", "interface"])
    n1 = side[side["host"] == "n1"].iloc[0]
    assert n1["ecn_peak"] == 900.0 and n1["ecn_mean"] == 300.0
    assert n1["util_peak"] == pytest.approx(0.88)  # the busier direction, in bits, over speed
    worst = worst_ports(side.rename(columns={"host": "switch"}))
    assert worst["switch"].to_list() == ["n1"]  # n2's trickle is below the congestion floor


def test_gpu_hours_by_state() -> None:
    util = pd.DataFrame({"value": [0.9, 0.6, 0.3, 0.01, np.nan]})
    hours = gpu_hours(util, 3600)
    assert (hours.busy, hours.underutilized, hours.idle) == (2.0, 1.0, 1.0)
    assert gpu_hours_of(2, 1, 4, 3600) == hours


def test_service_table_compares_latest_with_usual() -> None:
    t = [pd.Timestamp(T0) + pd.Timedelta(minutes=i) for i in range(5)]
    series = pd.DataFrame(
        {"service": ["a"] * 5, "t": t, "p99_ms": [100.0, 100.0, 110.0, 400.0, 50.0]}
    )
    totals = pd.DataFrame(
        {"service": ["a"], "requests": [600], "failures": [6], "p50_ms": [20.0], "p99_ms": [300.0]}
    )
    row = service_table(totals, series, 300).iloc[0]
    assert row["rate"] == 2.0 and row["error_ratio"] == 0.01
    assert row["baseline_p99_ms"] == 100.0 and row["p99_ratio"] == 4.0  # last bucket still filling


def test_span_tree_order_and_figure() -> None:
    t = pd.Timestamp(T0)
    spans = pd.DataFrame(
        {
            "span_id": ["a", "b", "c", "d"],
            "parent_id": ["", "a", "b", "a"],
            "service": ["gw", "gw", "emb", "rr"],
            "name": ["POST", "call emb", "embed", "rerank"],
            "kind": ["Server", "Client", "Server", "Server"],
            "start": [
                t,
                t + pd.Timedelta(milliseconds=1),
                t + pd.Timedelta(milliseconds=2),
                t + pd.Timedelta(milliseconds=50),
            ],
            "ms": [100.0, 40.0, 30.0, 20.0],
        }
    )
    order = [(depth, row["span_id"]) for depth, row in fig.span_tree_rows(spans)]
    assert order == [(0, "a"), (1, "b"), (2, "c"), (1, "d")]
    figure = fig.span_tree_figure(spans)
    assert list(figure.data[0].base) == [0.0, 1.0, 2.0, 50.0]


def _incident(kind: str, minutes: int) -> Incident:
    cause = Cause(kind, 0.8, "gw", Entity("service", "gw"), "why")
    return Incident("gw", T0 + timedelta(minutes=minutes), None, 900.0, 100.0, causes=(cause,))


def test_timeline_has_a_bar_per_incident_coloured_by_cause() -> None:
    incidents = [
        _incident("load_surge", 5),
        _incident("load_surge", 20),
        _incident("noisy_neighbor", 30),
    ]
    figure = fig.incident_timeline(incidents, T0, NOW)
    assert sorted(len(bar.base) for bar in figure.data) == [1, 2]
    assert {bar.marker.color for bar in figure.data} == {
        fig.KIND_COLORS["load_surge"],
        fig.KIND_COLORS["noisy_neighbor"],
    }


def _scope(*headers: tuple[bytes, bytes]) -> dict[str, Any]:
    return {"type": "http", "path": "/", "headers": list(headers)}


def test_one_token_check_for_header_and_cookie() -> None:
    assert token_matches("s3cret", "s3cret") and not token_matches("s3cre", "s3cret")
    assert not token_matches(None, "s3cret")
    assert authorized(_scope((b"authorization", b"Bearer s3cret")), "s3cret")
    assert authorized(_scope((b"authorization", b"bearer s3cret")), "s3cret")  # RFC 7235
    assert not authorized(_scope((b"authorization", b"Basic s3cret")), "s3cret")
    assert authorized(_scope((b"cookie", f"a=1; {COOKIE}=s3cret".encode())), "s3cret")
    # A wrong header is not rescued by a right cookie; a repeated header is refused.
    assert not authorized(
        _scope((b"authorization", b"Bearer nope"), (b"cookie", f"{COOKIE}=s3cret".encode())),
        "s3cret",
    )
    twice = (b"authorization", b"Bearer s3cret")
    assert not authorized(_scope(twice, twice), "s3cret")


class ListedSlos:
    """An SLO source holding fixed statuses: the dashboards' side of the seam, not the evaluator."""

    def __init__(self, statuses: list[dict[str, Any]]) -> None:
        self._statuses = statuses

    def statuses(self, now: datetime) -> list[dict[str, Any]]:
        return self._statuses

    def history(self, name: str, start: datetime, end: datetime, step_s: int) -> pd.DataFrame:
        t = pd.date_range(start, end, periods=5)
        return pd.DataFrame(
            {
                "t": t,
                "sli": [0.999, 0.998, 0.99, 0.995, 0.996],
                "error_budget_remaining": [0.9, 0.8, 0.5, 0.4, 0.35],
            }
        )


def test_pages_render_on_an_empty_store_and_name_what_is_missing(store: Store) -> None:
    routes = [(re.compile(p.ROUTE), p.render) for p in PAGES]
    texts = {}
    for path in (
        "/",
        "/gpus",
        "/fabric",
        "/slos",
        "/services/nope",
        "/incidents/abc123",
        "/nowhere",
    ):
        texts[path] = str(render_path(store, routes, path, "?from=1h"))
    assert "Cannot show" not in texts["/"] + texts["/gpus"] + texts["/fabric"]
    assert "no requests of service 'nope'" in texts["/services/nope"]
    assert "no incident abc123" in texts["/incidents/abc123"]
    assert "no page at /nowhere" in texts["/nowhere"]
    assert "bad time range: from=soon" in str(render_path(store, routes, "/", "?from=soon"))


def test_slo_pages_show_a_wired_source(store: Store) -> None:
    status = {
        "name": "gw-fast",
        "service": "gw",
        "target": 0.99,
        "window": "28d",
        "sli": 0.995,
        "error_budget_remaining": 0.35,
        "burn_rates": {"5m": 14.9, "1h": 7.0, "1d": 0.8},
        "alerts_firing": ["burn_rate page"],
    }
    ctx = PageContext(store, parse_range("?from=24h", NOW), NOW, ListedSlos([status]))
    listing = str(slos.render(ctx))
    assert "gw-fast" in listing and "burn_rate page" in listing
    detail = str(slos.render(ctx, "gw-fast"))
    assert "burn-down" in detail and "target 99%" in detail
    figure = slos.burn_rate_figure(status["burn_rates"])
    assert list(figure.data[0].x) == ["5m", "1h", "1d"]
    with pytest.raises(LookupError):
        slos.render(ctx, "other")


def test_fleet_slo_cell_marks_a_spent_budget_even_without_an_alert() -> None:
    from tailsight.dashboards.pages.fleet import slo_cell

    assert slo_cell({"name": "a", "error_budget_remaining": 0.4}).className == "ok"
    spent = slo_cell({"name": "a", "error_budget_remaining": -2.26})
    assert spent.className == "hot" and "budget -226%" in spent.children
    firing = slo_cell({"name": "a", "error_budget_remaining": 0.4, "alerts_firing": 1})
    assert firing.className == "hot" and "firing" in firing.children


def test_tables_of_text_go_as_one_html_string_and_links_stay_components() -> None:
    from dash import dcc, html

    from tailsight.dashboards.ui import table

    plain = table(
        ["port", "util."], [[html.Span("leaf1/E<1>", className="culprit hot"), "5 %"]], "ports"
    )
    markdown = plain.children
    assert isinstance(markdown, dcc.Markdown) and markdown.dangerously_allow_html
    assert markdown.children == (
        '<table id="ports"><thead><tr><th>port</th><th>util.</th></tr></thead><tbody><tr>'
        '<td><span class="culprit hot">leaf1/E&lt;1&gt;</span></td><td>5 %</td></tr></tbody></table>'
    )
    linked = table(["service"], [[dcc.Link("api", href="/services/api")]], "services")
    assert isinstance(linked.children, html.Table)  # client-side navigation needs the component
    styled = table(["x"], [[html.Span("a", style={"color": "red"})]])
    assert isinstance(styled.children, html.Table)  # only id, class and title are written out
