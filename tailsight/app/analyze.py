"""One analysis run over a time range: fetch frames, detect and attribute, replace the range's incidents.

The API's ``POST /api/v1/analyze``, the CLI's ``tailsight analyze`` and the scheduler
all run this function, so a manual run and the continuous one agree.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pandas as pd

from tailsight.analysis import candidates as cand
from tailsight.analysis.attribution import (
    IncidentFrames,
    downstream_target,
    evidence_hosts,
    rank_causes,
)
from tailsight.analysis.evidence import Phases
from tailsight.analysis.series import with_values
from tailsight.analysis.spikes import SpikeParams, detect_spikes
from tailsight.analysis.topology import build_topology
from tailsight.model import Incident
from tailsight.storage.incidents import replace_incidents
from tailsight.storage.queries import (
    downstream_latency,
    replica_latency_windows,
    service_latency_windows,
)
from tailsight.storage.queries_metrics import gpu_processes, metric_windows, nic_links
from tailsight.storage.store import Store
from tailsight.timeutil import EARLIEST, in_range, iso_z

EVIDENCE_METRICS = tuple(
    sorted(
        {m for m, _ in cand.SWITCH_SIGNALS + cand.NIC_SIGNALS + cand.HOST_SIGNALS}
        | {
            "system.network.io",
            "tailsight.nic.speed",
            "tailsight.switch.port.io",
            "tailsight.switch.port.speed",
            "tailsight.gpu.process.utilization",
            "hw.gpu.utilization",
            "tailsight.host.pressure",
            "tailsight.process.cpu.utilization",
        }
    )
)
MAX_DURING_S = 300.0  # evidence compares the first minutes of a spike: its onset explains it
# One analysis at a time replaces incidents in this process: a manual re-analysis and the
# scheduler's cycle replacing overlapping ranges at once would interleave their deletes
# and inserts. (Several analysing processes against one server are not serialised.)
_REPLACING = threading.Lock()


def analyze_range(
    store: Store,
    start: datetime,
    end: datetime,
    params: SpikeParams | None = None,
    source: str = "analyze",
) -> list[Incident]:
    """Detect the incidents whose onset lies in ``[start, end)`` and store them in place of the old."""
    if end <= start:
        raise ValueError("the range is empty: 'to' must be after 'from'")
    params = params or SpikeParams()
    lookback = timedelta(seconds=params.bucket_s * params.baseline_windows)
    # The range and the baseline read before it must lie where the store has times: a
    # range it cannot read finds nothing, and replacing with nothing deletes incidents.
    if start - lookback < EARLIEST:
        raise ValueError(
            f"'from' must be {iso_z(EARLIEST + lookback)} or later: analysis reads "
            f"{lookback} of baseline before it, from {iso_z(EARLIEST)} on"
        )
    in_range(end - timedelta(microseconds=1), "'to'")
    with _REPLACING:
        windows = service_latency_windows(store, start - lookback, end, params.bucket_s)
        incidents = [
            attribute(store, inc, windows, end).ranked()
            for inc in detect_spikes(windows, start, end, params)
        ]
        replace_incidents(store, start, end, incidents, source=source)
    return sorted(incidents, key=lambda i: i.start, reverse=True)


def attribute(store: Store, incident: Incident, windows: pd.DataFrame, end: datetime) -> Incident:
    """``incident`` with its causes ranked from the telemetry around its onset."""
    until = incident.end or end
    until = min(until, incident.start + timedelta(seconds=MAX_DURING_S))
    phases = Phases(onset=incident.start, until=until)
    added = incident.p99_ms - incident.baseline_p99_ms
    downstream = downstream_latency(
        store, incident.service, phases.baseline_start, phases.onset, until
    )
    target = downstream_target(downstream, added) or incident.service
    frames = incident_frames(store, target, windows, phases)
    if target != incident.service:
        frames = IncidentFrames(
            frames.topology, frames.replicas, frames.values, frames.requests, incident.service
        )
    causes = rank_causes(incident, frames, phases)
    return Incident(
        incident.service,
        incident.start,
        incident.end,
        incident.p99_ms,
        incident.baseline_p99_ms,
        incident.operation,
        incident.request_count,
        causes,
    )


def incident_frames(
    store: Store, service: str, windows: pd.DataFrame, phases: Phases
) -> IncidentFrames:
    """Fetch what attribution reads about ``service`` around ``phases``."""
    lo, hi = phases.baseline_start, phases.until
    replicas = replica_latency_windows(store, [service], lo, hi)
    hosts = evidence_hosts(replicas, service, phases)
    replicas = replicas[replicas["host"].isin(hosts)]
    links = nic_links(store, lo - timedelta(minutes=10), hi, hosts)
    procs = gpu_processes(store, lo, hi, hosts)
    topology = build_topology(service, replicas, procs, links)
    switches = sorted({link.switch for link in topology.links})
    raw = metric_windows(store, EVIDENCE_METRICS, lo - timedelta(seconds=20), hi, hosts, switches)
    values = with_values(raw)
    mine = windows[windows["service"] == service]
    requests = mine.set_index("window")["requests"].astype(float)
    return IncidentFrames(topology, replicas, values, requests)
