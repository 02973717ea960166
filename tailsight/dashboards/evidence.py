"""Which stored series show one evidence row on its entity, and that series as a chart frame.

An evidence row (CONTRACT §4) names a metric and an entity id as attribution wrote it:
``switch/port`` for switch metrics, ``host/interface`` for NIC metrics, ``host/pid`` or
``host/hw.id`` for GPU and process metrics, ``namespace/pod`` for a pod, a host or a
service. ``<io metric>:utilization`` is link utilization, ``requests`` the request rate.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

NIC_PREFIXES = ("system.network.", "tailsight.rdma.", "tailsight.nic.")


@dataclass(frozen=True)
class EvidenceSeries:
    """Where one evidence row's data lives: metrics to read, on which host or switch, matching what."""

    metrics: tuple[str, ...]
    host: str = ""
    switch: str = ""
    match: dict[str, str] = field(default_factory=dict)
    label_by: str = "direction"
    speed: str = ""  # set for utilization: the speed gauge the io rate is divided by

    @property
    def hosts(self) -> list[str]:
        return [self.host] if self.host else []

    @property
    def switches(self) -> list[str]:
        return [self.switch] if self.switch else []


def evidence_series(metric: str, entity: str) -> EvidenceSeries | None:
    """The series behind ``metric`` on ``entity``; ``None`` for request rates and unknown names."""
    head, _, tail = entity.partition("/")
    if metric.endswith(":utilization"):
        io = metric.rsplit(":", 1)[0]
        if io.startswith("tailsight.switch."):
            return EvidenceSeries(
                (io, "tailsight.switch.port.speed"),
                switch=head,
                match={"interface": tail},
                speed="tailsight.switch.port.speed",
            )
        return EvidenceSeries(
            (io, "tailsight.nic.speed"),
            host=head,
            match={"interface": tail},
            speed="tailsight.nic.speed",
        )
    if metric.startswith("tailsight.switch."):
        return EvidenceSeries((metric,), switch=head, match={"interface": tail} if tail else {})
    if metric.startswith(NIC_PREFIXES):
        return EvidenceSeries((metric,), host=head, match={"interface": tail} if tail else {})
    if metric in ("tailsight.tcp.retransmits", "system.cpu.utilization"):
        return EvidenceSeries((metric,), host=entity, label_by="metric")
    if metric == "tailsight.host.pressure":
        return EvidenceSeries(
            (metric,), host=entity, match={"resource": "cpu"}, label_by="resource"
        )
    if metric in (
        "tailsight.gpu.process.utilization",
        "tailsight.process.cpu.utilization",
        "hw.gpu.utilization",
    ):
        if not tail:
            return EvidenceSeries((metric,), host=head, label_by="pid")
        if metric == "tailsight.process.cpu.utilization" and not tail.isdigit():
            return EvidenceSeries((metric,), match={"pod": tail, "namespace": head}, label_by="pid")
        key = "pid" if tail.isdigit() else "hw_id"
        label = "hw_id" if metric == "hw.gpu.utilization" else "pid"
        return EvidenceSeries((metric,), host=head, match={key: tail}, label_by=label)
    return None


def chart_frame(values: pd.DataFrame, spec: EvidenceSeries) -> pd.DataFrame:
    """``t``, ``label``, ``value`` of ``spec`` from ``analysis.series.with_values`` rows."""
    if values.empty:
        return pd.DataFrame(columns=["t", "label", "value"])
    rows = values
    for column, wanted in spec.match.items():
        rows = rows[rows[column].astype(str) == wanted]
    if spec.speed:
        io = rows[(rows["metric"] == spec.metrics[0]) & (rows["direction"] != "")]
        speed = rows.loc[rows["metric"] == spec.speed, "value"].max()
        if io.empty or not speed or speed != speed:
            return pd.DataFrame(columns=["t", "label", "value"])
        per = io.groupby(["window", "direction"])["value"].sum().reset_index()
        per["value"] = per["value"] * 8.0 / float(speed)
        return per.rename(columns={"window": "t", "direction": "label"})[["t", "label", "value"]]
    rows = rows[rows["metric"].isin(spec.metrics)]
    label = rows[spec.label_by].astype(str) if spec.label_by in rows.columns else rows["metric"]
    if spec.label_by == "pid":
        label = "pid " + label
    out = pd.DataFrame(
        {"t": rows["window"], "label": label.replace("", "all"), "value": rows["value"]}
    )
    return out.groupby(["t", "label"], as_index=False)["value"].sum()
