"""``tailsight agent``: the node agent, exporting GPU, NIC, host and topology metrics over OTLP."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

from tailsight.cli import CliError
from tailsight.cli.common import add_config_flag, settings_from
from tailsight.collectors.agent import NODE_METRICS, AgentSources, NodeAgent, detect_resource
from tailsight.collectors.base import AttrValue
from tailsight.collectors.ethtool import RecordedEthtool
from tailsight.collectors.otlp import (
    OtlpMetricsBridge,
    make_exporter,
    outcome_tracking,
    points_to_json,
)
from tailsight.collectors.topology import TopologyError
from tailsight.config import Settings
from tailsight.timeutil import parse_duration

log = logging.getLogger("tailsight.agent")


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "agent",
        help="run the node agent (GPU, NIC, RDMA, host, topology → OTLP)",
        description="Read NVML, sysfs, procfs and LLDP on this node every interval and export "
        "the readings as OTLP metrics to ENDPOINT (a running `tailsight up` or any OTLP "
        "receiver). `--once --output json` prints one reading as JSON lines instead.",
    )
    add_config_flag(parser)
    parser.add_argument(
        "--endpoint",
        dest="agent_endpoint",
        metavar="URL",
        help="OTLP endpoint: http(s)://host:4318 or grpc://host:4317 (TAILSIGHT_AGENT_ENDPOINT)",
    )
    parser.add_argument("--interval", metavar="DURATION", help="collection interval (default 1s)")
    parser.add_argument("--token", help="bearer token for the endpoint (TAILSIGHT_TOKEN)")
    parser.add_argument(
        "--host-name", help="host.name of this node (default NODE_NAME or hostname)"
    )
    parser.add_argument(
        "--report-unchanged",
        dest="agent_report_unchanged",
        action="store_true",
        default=None,
        help="report every series every interval; by default counters and steady gauges that "
        "did not move are reported once per 10 s rollup window (docs/agent.md)",
    )
    parser.add_argument("--once", action="store_true", help="take one reading and exit")
    parser.add_argument(
        "--output", choices=["json"], help="with --once: print the points as JSON lines"
    )
    src = parser.add_argument_group("sources")
    src.add_argument("--sysfs-root", metavar="DIR", help="the host's /sys (default /sys)")
    src.add_argument("--procfs-root", metavar="DIR", help="the host's /proc (default /proc)")
    src.add_argument("--pods-dir", metavar="DIR", help="kubelet pod logs (default /var/log/pods)")
    src.add_argument("--topology", dest="topology_file", metavar="FILE", help="static links YAML")
    src.add_argument(
        "--top-processes",
        dest="agent_top_processes",
        type=int,
        help="busiest processes to report besides GPU ones (default 10)",
    )
    src.add_argument("--no-lldp", action="store_true", help="do not run lldpctl")
    replay = parser.add_argument_group("replayed hardware (demos and tests)")
    replay.add_argument("--nvml-replay", metavar="FILE", help="answer NVML calls from a recording")
    replay.add_argument(
        "--ethtool-replay", metavar="DIR", help="driver stats from saved `ethtool -S` (<iface>.txt)"
    )
    replay.add_argument(
        "--record-nvml",
        metavar="FILE",
        help="record --cycles rounds of this node's NVML answers (--interval apart) to FILE",
    )
    replay.add_argument("--cycles", type=int, default=10, help="rounds to record (default 10)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.interval is not None:
        try:
            args.agent_interval_s = parse_duration(args.interval).total_seconds()
        except ValueError as exc:
            raise CliError(f"--interval: {exc}") from None
    settings = settings_from(args)
    if args.output and not args.once:
        raise CliError("--output needs --once")
    if not args.once and not args.record_nvml and not settings.agent_endpoint:
        raise CliError("give --endpoint URL (or --once --output json to print one reading)")
    nvml = None
    if args.nvml_replay:
        from tailsight.collectors.nvml_replay import NvmlReplay

        try:
            nvml = NvmlReplay.load(args.nvml_replay)
        except (OSError, ValueError, KeyError) as exc:
            raise CliError(f"--nvml-replay {args.nvml_replay}: {exc}") from None
    if args.record_nvml:
        return _record(nvml, args.record_nvml, args.cycles, settings.agent_interval_s)
    resource = detect_resource(settings.host_name)
    sources = AgentSources(
        sysfs_root=settings.sysfs_root,
        procfs_root=settings.procfs_root,
        pods_dir=settings.pods_dir,
        topology_file=settings.topology_file,
        host_name=str(resource["host.name"]),
        top_processes=settings.agent_top_processes,
        nvml=nvml,
        ethtool=RecordedEthtool(Path(args.ethtool_replay)) if args.ethtool_replay else None,
        lldp=not args.no_lldp,
    )
    try:
        agent = NodeAgent(sources)
    except TopologyError as exc:
        raise CliError(str(exc)) from None
    try:
        return _once(agent, resource, settings) if args.once else _serve(agent, resource, settings)
    finally:
        agent.close()


def _record(nvml: Any, path: str, cycles: int, interval_s: float) -> int:
    from tailsight.collectors.nvml_record import record_nvml

    if cycles < 1:
        raise CliError("--cycles must be 1 or more")
    try:
        if nvml is None:
            import pynvml

            nvml = pynvml
        recording = record_nvml(nvml, cycles, interval_s)
    except ImportError:
        raise CliError("no NVIDIA GPU found (nvidia-ml-py is not installed)") from None
    except Exception as exc:  # NVMLError_LibraryNotFound, DriverNotLoaded, …
        raise CliError(f"no NVIDIA GPU found ({exc})") from None
    Path(path).write_text(json.dumps(recording, indent=1) + "\n")
    print(
        f"recorded {len(recording['devices'])} GPU(s) x {cycles} calls to {path}", file=sys.stderr
    )
    return 0


def _once(agent: NodeAgent, resource: dict[str, AttrValue], settings: Settings) -> int:
    # Two readings a short while apart, so CPU shares and PCIe rates cover a real interval.
    settle = min(settings.agent_interval_s, 1.0)
    if not settings.agent_endpoint:
        points_to_json(agent.collect_once(settle), resource, sys.stdout)
        return 0
    exporter = outcome_tracking(make_exporter(settings.agent_endpoint, settings.token))
    bridge = OtlpMetricsBridge(
        agent.collectors, resource, exporter, interval_s=3600, metrics=NODE_METRICS
    )
    agent.collect()
    time.sleep(settle)
    flushed = bridge.force_flush()
    bridge.shutdown()
    if not flushed or exporter.exports == 0 or exporter.failures:
        raise CliError(f"export to {settings.agent_endpoint} failed (see the exporter's log above)")
    return 0


def _serve(agent: NodeAgent, resource: dict[str, AttrValue], settings: Settings) -> int:
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    exporter = make_exporter(settings.agent_endpoint or "", settings.token)
    bridge = OtlpMetricsBridge(
        agent.collectors,
        resource,
        exporter,
        interval_s=settings.agent_interval_s,
        metrics=NODE_METRICS,
        report_unchanged=settings.agent_report_unchanged,
    )
    log.info(
        "agent for %s exporting to %s every %gs",
        resource["host.name"],
        settings.agent_endpoint,
        settings.agent_interval_s,
    )
    stop.wait()
    bridge.shutdown()  # exports what the last interval read
    print("tailsight agent stopped", file=sys.stderr)
    return 0
