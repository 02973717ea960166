"""The report's charts: drawn by matplotlib (Agg) into PNG bytes, no browser, no network.

Built to be read printed in black and white: series differ by marker, line style and
hatching, never by colour alone. PNG rather than SVG so that the PDF carries each chart
as one image (WeasyPrint would turn an SVG into vector paths), which the tests can count.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import matplotlib
import matplotlib.dates as mdates
import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from PIL import Image

from tailsight.reports.model import (
    SloSection,
    WeeklyReport,
    WorkloadHours,
    slo_title,
)

DPI = 130
MAX_WORKLOADS = 14  # bars in the GPU chart; the table below it lists every workload
HATCHES = ("///", "...", "xxx", "\\\\\\", "ooo", "---", "+++")
GRAYS = ("0.15", "0.55", "0.85")
matplotlib.rcParams.update(
    {
        "font.size": 8,
        "axes.titlesize": 9,
        "axes.titleweight": "bold",
        "axes.spines.top": False,
        "axes.spines.right": False,
        "hatch.linewidth": 0.6,
        # A fixed title position: left automatic, matplotlib measures every tick label's
        # bounding box on each draw to place the title (a fifth of a chart's time).
        "axes.titley": 1.0,
    }
)


@dataclass(frozen=True)
class Chart:
    """One chart: its title, the sentence that says what it shows, and the PNG."""

    key: str
    title: str
    caption: str
    png: bytes


def _figure(width: float, height: float) -> Figure:
    """A figure on its own Agg canvas: no pyplot, whose global figure list is not thread-safe."""
    fig = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


_local = threading.local()


def _num(ts: datetime) -> float:
    """Matplotlib's date number of ``ts`` (days since its epoch)."""
    return float(mdates.date2num(ts))


def _slo_axes() -> tuple[Figure, Axes, Axes]:
    """This thread's SLO figure, its axes cleared: building the figure anew for each SLO
    cost a quarter of the chart's time."""
    if not hasattr(_local, "slo"):
        fig = _figure(7.2, 2.5)
        left, right = fig.subplots(1, 2)
        fig.subplots_adjust(left=0.08, right=0.97, top=0.9, bottom=0.2, wspace=0.28)
        _local.slo = (fig, left, right)
    fig, left, right = _local.slo
    left.cla()
    right.cla()
    return fig, left, right


def _png(fig: Figure) -> bytes:
    """The figure as an 8-bit grayscale PNG: drawn once (fixed margins, no tight bounding box,
    each of which would draw it again), a quarter of RGBA's bytes for the PDF to carry."""
    canvas = fig.canvas
    assert isinstance(canvas, FigureCanvasAgg)
    canvas.draw()
    rgba = np.asarray(canvas.buffer_rgba())
    gray = Image.fromarray(rgba[..., :3].mean(axis=2).astype(np.uint8), mode="L")
    buf = io.BytesIO()
    gray.save(buf, format="PNG", compress_level=3)
    return buf.getvalue()


def slo_chart(section: SloSection, tz: str) -> Chart:
    """SLI against target per day of the week, and the window's budget burn-down."""
    slo = section.slo
    fig, left, right = _slo_axes()
    days = [_num(d.day) for d in section.days if d.sli is not None]
    values = [100 * d.sli for d in section.days if d.sli is not None]
    left.axhline(100 * slo.target, color="0.4", linestyle="--", linewidth=1, label="target")
    left.plot(days, values, color="black", marker="o", linewidth=1.4, label="SLI")
    low = min([*values, 100 * slo.target]) if values else 100 * slo.target
    left.set_ylim(max(0.0, low - max(0.5, (100 - low) * 0.5)), 100.2)
    left.set_title("SLI per day vs target")
    left.set_ylabel("good events (%)")
    left.set_xlabel(f"day ({tz})")
    left.xaxis.set_major_formatter(mdates.DateFormatter("%a %d", tz=tz))
    left.legend(loc="lower left", frameon=False)
    at = [_num(p.at) for p in section.burn_down]
    left_pct = [100 * p.remaining for p in section.burn_down]
    right.plot(
        at, left_pct, color="black", marker="s", markersize=2.5, linewidth=1.4, label="budget left"
    )
    if at:
        right.plot(
            [at[0], at[-1]],
            [100, 0],
            color="0.4",
            linestyle=":",
            linewidth=1.2,
            label="ideal (even burn)",
        )
        right.axvspan(
            _num(section.days[0].day),
            at[-1],
            facecolor="none",
            edgecolor="0.6",
            hatch="//",
            linewidth=0,
            label="this week",
        )
    right.axhline(0, color="black", linewidth=0.6)
    right.set_title(f"Error budget burn-down ({slo.window} window)")
    right.set_ylabel("budget left (%)")
    right.set_xlabel(f"date ({tz})")
    right.xaxis.set_major_formatter(mdates.DateFormatter("%d %b", tz=tz))
    right.xaxis.set_major_locator(mdates.AutoDateLocator(maxticks=6))
    right.legend(loc="lower left", frameon=False, fontsize=7)
    caption = (
        f"Left: the share of {slo.service}'s events that were good each day of the week "
        f"(circles) against the {100 * slo.target:g}% target (dashed). Right: the error "
        f"budget left over the SLO window ending with this week (squares) against an even "
        "burn (dotted); the hatched band is this week."
    )
    return Chart(f"slo-{slo.name}", slo_title(slo), caption, _png(fig))


def incidents_chart(report: WeeklyReport) -> Chart:
    """Incidents per cause kind, this week next to the week before."""
    now = report.kind_counts()
    before = report.previous_kind_counts
    kinds = sorted(set(now) | set(before), key=lambda k: (-now.get(k, 0), k)) or ["none"]
    fig = _figure(7.2, 2.3)
    ax = fig.subplots()
    fig.subplots_adjust(left=0.2, right=0.98, top=0.88, bottom=0.2)
    ys = range(len(kinds))
    ax.barh(
        [y + 0.2 for y in ys],
        [before.get(k, 0) for k in kinds],
        height=0.38,
        color="white",
        edgecolor="black",
        hatch="...",
        label="previous week",
    )
    ax.barh(
        [y - 0.2 for y in ys],
        [now.get(k, 0) for k in kinds],
        height=0.38,
        color="0.3",
        edgecolor="black",
        label="this week",
    )
    ax.set_yticks(list(ys), [k.replace("_", " ") for k in kinds])
    ax.invert_yaxis()
    ax.set_xlabel("incidents (count)")
    ax.set_title("Incidents by root cause, week over week")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(loc="lower right", frameon=False)
    caption = (
        "The number of incidents whose top cause was each kind, this week (solid) and the "
        "week before (dotted)."
    )
    return Chart("incidents", "Incidents by root cause", caption, _png(fig))


def gpu_chart(workloads: Sequence[WorkloadHours]) -> Chart:
    """GPU-hours per workload, stacked busy / underutilized / idle."""
    shown = list(workloads)[:MAX_WORKLOADS] or [WorkloadHours("none", False, 0, 0, 0, 0)]
    height = 0.4 * len(shown) + 1.3
    fig = _figure(7.2, height)
    ax = fig.subplots()
    fig.subplots_adjust(left=0.2, right=0.98, top=1 - 0.35 / height, bottom=0.85 / height)
    names = [w.workload for w in shown]
    left = [0.0] * len(shown)
    for (label, attr), hatch, gray in zip(
        (("busy", "busy_h"), ("underutilized", "underutilized_h"), ("idle", "idle_h")),
        ("", "///", "..."),
        GRAYS,
        strict=True,
    ):
        values = [getattr(w, attr) for w in shown]
        ax.barh(
            names,
            values,
            left=left,
            color=gray,
            edgecolor="black",
            hatch=hatch,
            linewidth=0.5,
            label=label,
        )
        left = [a + b for a, b in zip(left, values, strict=True)]
    ax.invert_yaxis()
    ax.set_xlabel("GPU-hours (h)")
    ax.set_title("GPU time by utilization, per workload")
    ax.legend(
        loc="upper center", bbox_to_anchor=(0.5, -0.6 / (height - 1.2)), frameon=False, ncols=3
    )
    caption = (
        "Hours each workload's GPUs spent busy (utilization at least 50%, dark), "
        "underutilized (5-50%, hatched) and idle (under 5%, dotted) in the week"
        + (
            f", for the first {MAX_WORKLOADS} of {len(workloads)} workloads in the table."
            if len(workloads) > MAX_WORKLOADS
            else "."
        )
    )
    return Chart("gpus", "GPU time by utilization", caption, _png(fig))
