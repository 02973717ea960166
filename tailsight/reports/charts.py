"""The report's charts: drawn by matplotlib (Agg) into PNG bytes, no browser, no network.

Built to be read printed in black and white: series differ by marker, line style and
hatching, never by colour alone. PNG rather than SVG so that the PDF carries each chart
as one image (WeasyPrint would turn an SVG into vector paths), which the tests can count.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")  # no display; must precede pyplot

import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from tailsight.reports.model import (  # noqa: E402
    SloSection,
    WeeklyReport,
    WorkloadHours,
    slo_title,
)

DPI = 150
HATCHES = ("///", "...", "xxx", "\\\\\\", "ooo", "---", "+++")
GRAYS = ("0.15", "0.55", "0.85")
plt.rcParams.update(
    {
        "font.size": 8,
        "axes.titlesize": 9,
        "axes.titleweight": "bold",
        "axes.spines.top": False,
        "axes.spines.right": False,
        "hatch.linewidth": 0.6,
    }
)


@dataclass(frozen=True)
class Chart:
    """One chart: its title, the sentence that says what it shows, and the PNG."""

    key: str
    title: str
    caption: str
    png: bytes


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def slo_chart(section: SloSection, tz: str) -> Chart:
    """SLI against target per day of the week, and the window's budget burn-down."""
    slo = section.slo
    fig, (left, right) = plt.subplots(1, 2, figsize=(7.2, 2.5))
    days = [d.day for d in section.days if d.sli is not None]
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
    at = [p.at for p in section.burn_down]
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
            section.days[0].day,
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
    fig.tight_layout()
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
    fig, ax = plt.subplots(figsize=(7.2, 2.3))
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
    fig.tight_layout()
    caption = (
        "The number of incidents whose top cause was each kind, this week (solid) and the "
        "week before (dotted)."
    )
    return Chart("incidents", "Incidents by root cause", caption, _png(fig))


def gpu_chart(workloads: Sequence[WorkloadHours]) -> Chart:
    """GPU-hours per workload, stacked busy / underutilized / idle."""
    shown = list(workloads)[:14] or [WorkloadHours("none", False, 0, 0, 0, 0)]
    fig, ax = plt.subplots(figsize=(7.2, 0.45 * len(shown) + 1.0))
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
        loc="upper center", bbox_to_anchor=(0.5, -0.5 / len(shown) - 0.12), frameon=False, ncols=3
    )
    fig.tight_layout()
    caption = (
        "Hours each workload's GPUs spent busy (utilization at least 50%, dark), "
        "underutilized (5-50%, hatched) and idle (under 5%, dotted) in the week."
    )
    return Chart("gpus", "GPU time by utilization", caption, _png(fig))
