"""``tailsight switch-poller``: SNMP counters of leaf switches to OTLP (or JSON lines)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
import time
from pathlib import Path
from typing import IO

from tailsight.cli import CliError
from tailsight.collectors.otlp import make_exporter, points_to_json
from tailsight.collectors.snmp.export import SwitchMetricsExporter
from tailsight.collectors.snmp.poller import SwitchPoll, SwitchPoller, make_pollers, poll_all
from tailsight.collectors.snmp.switches import PollerConfig, load_switches, switch_config
from tailsight.config import load_settings

log = logging.getLogger("tailsight.switch_poller")


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "switch-poller",
        help="poll leaf switches over SNMP and send their port counters as OTLP",
        description="Poll switches concurrently over SNMP v2c/v3 (IF-MIB counters, vendor "
        "PFC/ECN columns, LLDP neighbors) and export tailsight.switch.* metrics over OTLP "
        "with resource tailsight.switch.name. Switches come from --config switches.yaml, "
        "or one switch from --target/--community/--name.",
    )
    parser.add_argument("--config", metavar="FILE", help="switches.yaml (see the README)")
    parser.add_argument(
        "--endpoint",
        metavar="URL",
        help="OTLP receiver: http://host:4318 (OTLP/HTTP) or grpc://host:4317",
    )
    parser.add_argument("--token", help="bearer token of the receiver (TAILSIGHT_TOKEN)")
    parser.add_argument("--interval", type=float, help="seconds between polls (default 10)")
    parser.add_argument("--once", action="store_true", help="poll once, export or print, exit")
    parser.add_argument(
        "--output",
        choices=["otlp", "json"],
        default="otlp",
        help="otlp: send to --endpoint; json: print points as JSON lines",
    )
    one = parser.add_argument_group("one switch instead of --config")
    one.add_argument("--target", metavar="HOST[:PORT]", help="the switch's SNMP agent")
    one.add_argument("--name", help="the switch's name (resource tailsight.switch.name)")
    one.add_argument("--community", default="public", help="SNMPv2c community")
    one.add_argument("--vendor", help="vendor mapping for PFC/ECN (e.g. cisco-nxos) or a .yaml")
    one.add_argument("--ports", metavar="REGEX", help="only ports whose ifName matches")
    one.add_argument("--timeout", type=float, default=2.0, help="seconds per SNMP request")
    one.add_argument("--retries", type=int, default=2, help="retries after a timeout")
    parser.add_argument(
        "--log-level", choices=["debug", "info", "warning", "error"], help="log verbosity"
    )
    parser.set_defaults(handler=run)


def poller_config(args: argparse.Namespace) -> PollerConfig:
    if args.config and args.target:
        raise CliError("give either --config or --target, not both")
    if args.config:
        return load_switches(Path(args.config))
    if not args.target:
        raise CliError("give --config switches.yaml, or --target HOST:PORT with --name")
    raw = {
        "name": args.name or args.target,
        "target": args.target,
        "community": args.community,
        "timeout": args.timeout,
        "retries": args.retries,
    }
    if args.vendor:
        raw["vendor"] = args.vendor
    if args.ports:
        raw["ports"] = args.ports
    return PollerConfig((switch_config(raw, "--target"),))


def write_json(polls: list[SwitchPoll], out: IO[str]) -> int:
    n = 0
    for poll in polls:
        n += points_to_json(poll.points, {"tailsight.switch.name": poll.switch}, out)
    out.flush()
    return n


def report_failures(polls: list[SwitchPoll]) -> int:
    failed = [p for p in polls if p.error]
    for p in failed:
        print(f"switch {p.switch}: {p.error}", file=sys.stderr)
    return len(failed)


async def poll_loop(
    pollers: list[SwitchPoller],
    interval_s: float,
    once: bool,
    exporter: SwitchMetricsExporter | None,
) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    failures = 0
    while not stop.is_set():
        started = time.monotonic()
        # A poll may take the whole interval but no more, so cycles never pile up.
        polls = await poll_all(pollers, deadline_s=None if once else interval_s)
        if exporter is None:
            write_json(polls, sys.stdout)
        else:
            ok = await asyncio.to_thread(exporter.export, polls)
            if not ok:
                log.warning("OTLP export of %d switches failed", len(polls))
                failures += 1
        failed = report_failures(polls) if once else 0
        if once:
            return 1 if failed or failures else 0
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), max(0.0, interval_s - (time.monotonic() - started)))
    return 0


def run(args: argparse.Namespace) -> int:
    if args.log_level is None:
        logging.getLogger().setLevel(logging.INFO)
    config = poller_config(args)
    if not config.switches:
        raise CliError("no switches to poll")
    interval_s = args.interval or config.interval_s or 10.0
    if interval_s <= 0:
        raise CliError("--interval must be positive")
    exporter = None
    if args.output == "otlp":
        if not args.endpoint:
            raise CliError("--endpoint URL is required (or --once --output json)")
        token = load_settings({"token": args.token}).token
        exporter = SwitchMetricsExporter(make_exporter(args.endpoint, token))
    pollers = make_pollers(config.switches)
    log.info("polling %d switch(es) every %gs", len(pollers), interval_s)
    try:
        return asyncio.run(poll_loop(pollers, interval_s, args.once, exporter))
    finally:
        if exporter is not None:
            exporter.shutdown()
