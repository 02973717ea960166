"""One analysis run over a time range: fetch frames, detect and attribute, replace the range's incidents.

The API's ``POST /api/v1/analyze``, the CLI's ``tailsight analyze`` and the scheduler
all run this function, so a manual run and the continuous one agree.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import replace
from datetime import datetime, timedelta

import pandas as pd

from tailsight.analysis import candidates as cand
from tailsight.analysis.attribution import (
    IncidentFrames,
    downstream_target,
    evidence_hosts,
    rank_causes,
)
from tailsight.analysis.calibration import Calibration
from tailsight.analysis.evidence import Phases
from tailsight.analysis.llm import detect_llm, reconcile
from tailsight.analysis.narrow import (
    NarrowParams,
    detect_narrow,
    reference,
    thin_services,
    to_incidents,
)
from tailsight.analysis.series import with_values
from tailsight.analysis.spikes import SUPPORT_LEVELS, SpikeParams, detect_multiscale, lookback
from tailsight.analysis.topology import build_topology
from tailsight.analysis.traces import deepest_downstream
from tailsight.model import Incident
from tailsight.storage.incidents import replace_incidents
from tailsight.storage.queries import (
    client_server_gaps,
    downstream_latency,
    operation_latency_windows,
    replica_latency_windows,
    replica_pods,
    service_latency_windows,
)
from tailsight.storage.queries_llm import llm_latency_windows
from tailsight.storage.queries_metrics import (
    gpu_pods,
    gpu_processes,
    metric_windows,
    nic_interfaces,
    nic_links,
)
from tailsight.storage.queries_series import latency_grid_windows
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
log = logging.getLogger(__name__)
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
    calibration: Calibration | None = None,
) -> list[Incident]:
    """Detect the incidents whose onset lies in ``[start, end)`` and store them in place of the old.

    ``calibration``: of the cause scores (default the shipped one; ``calibration.RAW`` for
    the raw scores the refit reads).
    """
    if end <= start:
        raise ValueError("the range is empty: 'to' must be after 'from'")
    params = params or SpikeParams()
    widest = max(lookback(params, bucket) for bucket in params.scales)
    # The range and the baseline read before it must lie where the store has times: a
    # range it cannot read finds nothing, and replacing with nothing deletes incidents.
    if start - widest < EARLIEST:
        raise ValueError(
            f"'from' must be {iso_z(EARLIEST + widest)} or later: analysis reads "
            f"{widest} of baseline before it, from {iso_z(EARLIEST)} on"
        )
    in_range(end - timedelta(microseconds=1), "'to'")
    with _REPLACING:
        # Every scale, so thin services (and coarse backfilled history) are judged too.
        frames = {
            bucket: service_latency_windows(
                store, start - lookback(params, bucket), end, bucket, SUPPORT_LEVELS
            )
            for bucket in params.scales
        }
        llm_frames = {
            bucket: llm_latency_windows(
                store, start - lookback(params, bucket), end, bucket, SUPPORT_LEVELS
            )
            for bucket in params.scales
        }
        duration = detect_multiscale(frames, start, end, params)
        # Spikes of one replica or a thin service; a generative service's are reconciled
        # with its LLM SLIs like its whole-service ones (output length, TTFT incidents).
        duration += narrow_incidents(store, start, end, frames[min(params.scales)], duration)
        found, dropped = reconcile(
            duration,
            detect_llm(llm_frames, start, end, params),
            llm_frames[min(params.scales)],
            lambda inc, bucket: incident_phases(inc, end, bucket),
            end,
        )
        for inc, why in dropped:
            log.info("no incident for %s at %s: %s", inc.service, iso_z(inc.start), why)
        incidents = [
            attribute(
                store, inc, frames[bucket], end, bucket, llm_frames[bucket], calibration
            ).ranked()
            for bucket, inc in found
        ]
        replace_incidents(store, start, end, incidents, source=source)
    return sorted(incidents, key=lambda i: i.start, reverse=True)


def narrow_incidents(
    store: Store,
    start: datetime,
    end: datetime,
    service_windows: pd.DataFrame,
    found: list[tuple[int, Incident]],
    params: NarrowParams | None = None,
) -> list[tuple[int, Incident]]:
    """Spikes of one replica, or of a thin service, that no service-level incident covers.

    ``analysis.narrow``: exceedances of each replica (and of each service too thin for
    the p99 rule) over its service's usual tail, under one false-alarm budget per service.
    """
    params = params or NarrowParams()
    baseline = timedelta(seconds=params.bucket_s * params.baseline_windows)
    ref_span = timedelta(seconds=params.ref_bucket_s * params.ref_windows)
    refs = reference(
        latency_grid_windows(
            store, start - baseline - ref_span, end, params.ref_bucket_s, by_replica=False
        ),
        params,
    )
    grid = latency_grid_windows(store, start - baseline, end, params.bucket_s)
    runs = detect_narrow(grid, refs, start, end, params)
    thin = thin_services(service_windows, params)
    if thin:
        grid = latency_grid_windows(
            store, start - baseline, end, params.bucket_s, by_replica=False, services=thin
        )
        runs += detect_narrow(grid, refs, start, end, params)
    out: list[tuple[int, Incident]] = []
    for inc in to_incidents(runs, params):
        covered = any(
            f.service == inc.service and not f.sli and _overlap(f, inc, end) for _, f in found
        )
        if not covered:
            out.append((params.bucket_s, inc))
    return out


def _overlap(a: Incident, b: Incident, end: datetime) -> bool:
    return a.start < (b.end or end) and b.start < (a.end or end)


def incident_phases(incident: Incident, end: datetime, bucket_s: int = 10) -> Phases:
    """The before/during ranges evidence compares, stretched for incidents found on long windows."""
    during = max(MAX_DURING_S, 3.0 * bucket_s)
    until = min(incident.end or end, incident.start + timedelta(seconds=during))
    return Phases(
        onset=incident.start,
        until=max(until, incident.start + timedelta(seconds=bucket_s)),
        baseline_s=max(900.0, 16.0 * bucket_s),
        guard_s=max(20.0, float(bucket_s)),
    )


def attribute(
    store: Store,
    incident: Incident,
    windows: pd.DataFrame,
    end: datetime,
    bucket_s: int = 10,
    llm: pd.DataFrame | None = None,
    calibration: Calibration | None = None,
) -> Incident:
    """``incident`` with its causes ranked from the telemetry around its onset.

    ``llm``: the LLM latency SLI frame of the same windows, for generative services.
    """
    phases = incident_phases(incident, end, bucket_s)
    until = phases.until
    added = incident.p99_ms - incident.baseline_p99_ms

    def calls_of(service: str) -> pd.DataFrame:
        return downstream_latency(store, service, phases.baseline_start, phases.onset, until)

    # Down the call tree to the deepest service holding the added latency; a TTFT or TPOT
    # spike is the engine's own (its SLIs do not include downstream calls).
    target = incident.service
    if not incident.sli:
        target = (
            deepest_downstream(incident.service, added, calls_of, downstream_target)
            or incident.service
        )
    replica = incident.replica if target == incident.service else ""
    frames = incident_frames(store, target, windows, phases, bucket_s, replica)
    gaps = client_server_gaps(store, incident.service, phases.baseline_start, phases.onset, until)
    frames = IncidentFrames(
        frames.topology,
        frames.replicas,
        frames.values,
        frames.requests,
        incident.service if target != incident.service else "",
        operations=frames.operations,
        gaps=gaps if target == incident.service else None,
        llm=llm[llm["service"] == target] if llm is not None and not llm.empty else None,
    )
    return replace(incident, causes=rank_causes(incident, frames, phases, calibration))


def incident_frames(
    store: Store,
    service: str,
    windows: pd.DataFrame,
    phases: Phases,
    bucket_s: int = 10,
    replica: str = "",
) -> IncidentFrames:
    """Fetch what attribution reads about ``service`` around ``phases`` (``bucket_s`` windows).

    ``replica``: the replica that spiked (``<host>/<pid>``), whose host is read first.
    """
    lo, hi = phases.baseline_start, phases.until
    replicas = replica_latency_windows(store, [service], lo, hi, bucket_s)
    hosts = evidence_hosts(replicas, service, phases, replica=replica)
    replicas = replicas[replicas["host"].isin(hosts)]
    links = nic_links(store, lo - timedelta(minutes=10), hi, hosts)
    procs = gpu_processes(store, lo, hi, hosts)
    bare = sorted(set(hosts) - set(procs["host"]) - set(links["host"]))
    if bare:  # no agent there: what dcgm-exporter and node_exporter show instead
        links, procs = _exporter_topology(store, service, lo, hi, bare, links, procs)
    topology = build_topology(service, replicas, procs, links)
    switches = sorted({link.switch for link in topology.links})
    raw = metric_windows(store, EVIDENCE_METRICS, lo - timedelta(seconds=20), hi, hosts, switches)
    # Coarse history may hold a metric point every few minutes: rates span such gaps.
    values = with_values(raw, max_gap_s=max(120.0, 3.0 * bucket_s))
    mine = windows[windows["service"] == service]
    requests = mine.set_index("window")["requests"].astype(float)
    operations = operation_latency_windows(store, service, lo, hi, bucket_s)
    return IncidentFrames(topology, replicas, values, requests, operations=operations)


def _exporter_topology(
    store: Store,
    service: str,
    lo: datetime,
    hi: datetime,
    hosts: list[str],
    links: pd.DataFrame,
    procs: pd.DataFrame,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Links and GPU tenants of ``hosts`` from exporter data: NICs without switch ports, pods.

    A pod is matched to a replica by the ``k8s.pod.name`` of the replica's spans; the
    other pods on a GPU are tenants known by pod only.
    """
    nics = nic_interfaces(store, lo, hi, hosts).assign(switch="", port="")
    pods = gpu_pods(store, lo, hi, hosts)
    if not pods.empty:
        mine = replica_pods(store, service, lo, hi)
        pid_of = {(h, pod): pid for h, pid, pod in mine.itertuples(index=False)}
        pods = pods.assign(
            pid=[
                pid_of.get((h, pod), "") for h, pod in zip(pods["host"], pods["pod"], strict=True)
            ],
            executable=pods["container"],
        )
        procs = pd.concat([procs, pods[list(procs.columns)]], ignore_index=True)
    if not nics.empty:
        links = pd.concat([links, nics[list(links.columns)]], ignore_index=True)
    return links, procs
