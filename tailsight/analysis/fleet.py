"""Fleet summaries the dashboards show: GPU-hours by state, worst ports, links with both ends.

Pure functions of frames (``storage.dashboard_*`` rows with ``series.bucket_values``),
so the numbers on a page are tested without a store or a browser.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

BUSY, IDLE = 0.5, 0.05  # GPU utilization: busy at or above, idle below, underutilized between
# A link end counts as congested from this score (ECN marks, PFC pauses per second, discards
# and errors weighted): below it is the trickle of a healthy fabric.
CONGESTED = 5.0

PORT_COUNTERS = {
    "tailsight.switch.port.ecn_marked": "ecn",
    "tailsight.switch.port.pfc.pause_frames": "pfc",
    "tailsight.switch.port.discards": "discards",
    "tailsight.switch.port.errors": "errors",
    "tailsight.switch.port.io": "bytes",
}
NIC_COUNTERS = {
    "tailsight.rdma.ecn_marked": "ecn",
    "tailsight.rdma.cnp.sent": "cnp_sent",
    "tailsight.rdma.cnp.handled": "cnp_handled",
    "tailsight.nic.pfc.pause_frames": "pfc",
    "system.network.packet.dropped": "discards",
    "system.network.io": "bytes",
}
PORT_SPEED = "tailsight.switch.port.speed"
NIC_SPEED = "tailsight.nic.speed"


@dataclass(frozen=True)
class GpuHours:
    """GPU-hours in the range by state (utilization ≥ 50 %, 5–50 %, < 5 %)."""

    busy: float
    underutilized: float
    idle: float

    @property
    def total(self) -> float:
        return self.busy + self.underutilized + self.idle


def gpu_hours_of(busy: int, idle: int, total: int, step_s: float) -> GpuHours:
    """GPU-hours by state from counts of GPU-buckets of ``step_s`` (``busy``/``idle`` thresholds)."""
    hours = step_s / 3600.0
    return GpuHours(busy * hours, (total - busy - idle) * hours, idle * hours)


def gpu_hours(util: pd.DataFrame, step_s: float) -> GpuHours:
    """GPU-hours by state from per-GPU, per-bucket mean utilization (``value`` column)."""
    if util.empty:
        return GpuHours(0.0, 0.0, 0.0)
    value = util["value"].to_numpy(dtype=float)
    value = value[~np.isnan(value)]
    hours = step_s / 3600.0
    busy = float((value >= BUSY).sum()) * hours
    idle = float((value < IDLE).sum()) * hours
    return GpuHours(busy, float(len(value)) * hours - busy - idle, idle)


def link_side(
    values: pd.DataFrame, counters: dict[str, str], speed: str, keys: list[str]
) -> pd.DataFrame:
    """Per link end (``keys``): mean and peak rate of each counter, and utilization of speed.

    ``values`` has one row per series and bucket with ``value`` (rates per second for
    counters, the mean for the speed gauge). Both directions of a counter are added;
    utilization is the busier direction's bits per second over the speed.
    """
    columns = [
        *keys,
        *[f"{c}_{a}" for c in counters.values() for a in ("mean", "peak")],
        "util_mean",
        "util_peak",
        "speed",
    ]
    if values.empty:
        return pd.DataFrame({c: [] for c in columns})
    rates = values[values["metric"].isin(list(counters))]
    per_bucket = rates.groupby([*keys, "metric", "t"], sort=False)["value"].sum().reset_index()
    stats = per_bucket.groupby([*keys, "metric"])["value"].agg(["mean", "max"]).reset_index()
    out = pd.DataFrame(columns=keys)
    for metric, name in counters.items():
        part = stats[stats["metric"] == metric][[*keys, "mean", "max"]]
        part = part.rename(columns={"mean": f"{name}_mean", "max": f"{name}_peak"})
        out = part if out.empty else out.merge(part, on=keys, how="outer")
    speeds = (
        values[values["metric"] == speed].groupby(keys)["value"].max().rename("speed").reset_index()
    )
    out = out.merge(speeds, on=keys, how="left") if not out.empty else speeds
    io_metric = next(m for m, n in counters.items() if n == "bytes")
    io = values[values["metric"] == io_metric]
    by_dir = io.groupby([*keys, "t", "direction"])["value"].sum().reset_index()
    busiest = by_dir.groupby([*keys, "t"])["value"].max().reset_index()
    busiest = busiest.merge(speeds, on=keys, how="left")
    busiest["util"] = busiest["value"] * 8.0 / busiest["speed"].where(busiest["speed"] > 0)
    util = busiest.groupby(keys)["util"].agg(["mean", "max"]).reset_index()
    util = util.rename(columns={"mean": "util_mean", "max": "util_peak"})
    out = out.merge(util, on=keys, how="left")
    for column in columns:
        if column not in out.columns:
            out[column] = np.nan
    return out[columns].reset_index(drop=True)


def congestion_score(side: pd.DataFrame) -> pd.Series:
    """One number to sort link ends by: peaks of ECN, PFC and discards, weighted by harm."""

    def col(name: str) -> pd.Series:
        return side[name].fillna(0.0) if name in side.columns else pd.Series(0.0, index=side.index)

    return (
        col("ecn_peak") + col("pfc_peak") + 20.0 * col("discards_peak") + 20.0 * col("errors_peak")
    )


def worst_ports(ports: pd.DataFrame, limit: int = 10, floor: float = CONGESTED) -> pd.DataFrame:
    """The ``limit`` ports with the most congestion signal, above ``floor`` (none when all are quiet)."""
    if ports.empty:
        return ports
    scored = ports.assign(score=congestion_score(ports))
    scored = scored[scored["score"] >= floor]
    return scored.sort_values("score", ascending=False).head(limit).reset_index(drop=True)


def service_table(totals: pd.DataFrame, series: pd.DataFrame, seconds: float) -> pd.DataFrame:
    """Per service: request rate, error ratio, p50/p99 over the range and its usual p99.

    The usual p99 (``baseline_p99_ms``) is the median of the service's per-bucket p99s,
    so a short spike inside the range does not move it; ``p99_ratio`` is the latest
    complete bucket's p99 over it.
    """
    columns = [
        "service",
        "rate",
        "error_ratio",
        "p50_ms",
        "p99_ms",
        "baseline_p99_ms",
        "latest_p99_ms",
        "p99_ratio",
    ]
    if totals.empty:
        return pd.DataFrame({c: [] for c in columns})
    usual = series.groupby("service")["p99_ms"].median().rename("baseline_p99_ms")
    latest = (
        series.sort_values("t")
        .groupby("service")["p99_ms"]
        .apply(_latest_complete)
        .rename("latest_p99_ms")
    )
    out = totals.merge(usual, on="service", how="left").merge(latest, on="service", how="left")
    out["rate"] = out["requests"] / max(seconds, 1.0)
    out["error_ratio"] = out["failures"] / out["requests"].clip(lower=1)
    out["p99_ratio"] = out["latest_p99_ms"] / out["baseline_p99_ms"].where(
        out["baseline_p99_ms"] > 0
    )
    return out[columns]


def _latest_complete(p99: pd.Series) -> float:
    """The last bucket but one when there are several: the last is usually still filling."""
    values = p99.dropna().to_numpy(dtype=float)
    if len(values) == 0:
        return float("nan")
    return float(values[-2] if len(values) > 2 else values[-1])
