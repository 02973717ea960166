"""Fleet efficiency: GPU-hours busy, underutilized and idle per workload, and what held GPUs back."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from tailsight.reports.model import IncidentRow, UnderusedGpu, WorkloadHours
from tailsight.storage.report_queries import gpu_time_by_state, gpu_workloads, host_pressure
from tailsight.storage.store import Store

NO_WORKLOAD = "(no workload)"
TOP_UNDERUSED = 8
# Host figures that count as "held back by the host" in the explanation.
PRESSURE_AT = 0.2
CPU_BUSY_AT = 0.85


def fleet_efficiency(
    store: Store, start: datetime, end: datetime, incidents: Sequence[IncidentRow]
) -> tuple[list[WorkloadHours], list[UnderusedGpu]]:
    """GPU-hours by workload, and the GPUs underutilized longest with the reason found."""
    gpus = gpu_time_by_state(store, start, end)
    owners = {(w["host"], w["hw_id"]): w for w in gpu_workloads(store, start, end)}
    hours: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0, 0.0])
    serving: dict[str, bool] = {}
    for g in gpus:
        owner = owners.get((g["host"], g["hw_id"]))
        name = owner["workload"] if owner else NO_WORKLOAD
        serving[name] = bool(owner and owner["serving"])
        h = hours[name]
        h[0] += 1
        h[1] += g["busy_s"] / 3600
        h[2] += g["under_s"] / 3600
        h[3] += g["idle_s"] / 3600
    workloads = [
        WorkloadHours(name, serving[name], int(h[0]), h[1], h[2], h[3]) for name, h in hours.items()
    ]
    workloads.sort(key=lambda w: (not w.serving, -(w.busy_h + w.underutilized_h + w.idle_h)))
    top = sorted((g for g in gpus if g["under_s"] > 0), key=lambda g: -g["under_s"])
    top = top[:TOP_UNDERUSED]
    pressure = host_pressure(store, start, end, sorted({g["host"] for g in top}))
    underused = []
    for g in top:
        owner = owners.get((g["host"], g["hw_id"]))
        underused.append(
            UnderusedGpu(
                host=g["host"],
                hw_id=g["hw_id"],
                workload=owner["workload"] if owner else NO_WORKLOAD,
                underutilized_h=g["under_s"] / 3600,
                mean_util=g["mean_util"],
                held_back=held_back(g["host"], g["hw_id"], incidents, pressure.get(g["host"], {})),
            )
        )
    return workloads, underused


def held_back(
    host: str, hw_id: str, incidents: Sequence[IncidentRow], pressure: dict[str, float]
) -> str:
    """Why a GPU sat underutilized: its incidents' causes first, then its host's load."""
    blamed = [
        r
        for r in incidents
        if (r.culprit_type == "gpu" and r.culprit_id == f"{host}/{hw_id}")
        or (r.culprit_type == "host" and r.culprit_id == host)
    ]
    if blamed:
        kinds = sorted({r.kind.replace("_", " ") for r in blamed})
        return f"{len(blamed)} incident(s) ({', '.join(kinds)}): {blamed[0].summary}"
    reasons = []
    if pressure.get("psi_cpu", 0.0) >= PRESSURE_AT:
        reasons.append(f"CPU pressure on {host} averaged {pressure['psi_cpu']:.0%}")
    if pressure.get("cpu_util", 0.0) >= CPU_BUSY_AT:
        reasons.append(f"{host}'s CPUs averaged {pressure['cpu_util']:.0%} busy")
    if pressure.get("psi_io", 0.0) >= PRESSURE_AT:
        reasons.append(f"I/O pressure on {host} averaged {pressure['psi_io']:.0%}")
    if pressure.get("psi_memory", 0.0) >= PRESSURE_AT:
        reasons.append(f"memory pressure on {host} averaged {pressure['psi_memory']:.0%}")
    if reasons:
        return "; ".join(reasons)
    return "no host contention seen: too little demand for the GPU"
