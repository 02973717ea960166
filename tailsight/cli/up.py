"""``tailsight up``: everything in one process on the embedded store (or a ClickHouse server)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

from tailsight.app.runner import BindError, Runner
from tailsight.app.up import build_components
from tailsight.cli import CliError
from tailsight.cli.common import add_store_flags, opened_store, settings_from
from tailsight.config import ROLES

log = logging.getLogger("tailsight")


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "up",
        help="run receivers, API, analysis and UI in one process (or one --role of them)",
        description="Run tailsight in one process: OTLP receivers (4318 HTTP, 4317 gRPC), "
        "the HTTP API and dashboards (8050) and the analysis scheduler, on the embedded "
        "store under --data-dir or on the ClickHouse server given by --store. "
        "With --role, a process runs one part of that, so a cluster scales each on its own. "
        "Stops cleanly on SIGTERM or Ctrl-C.",
    )
    add_store_flags(parser)
    parser.add_argument(
        "--role",
        choices=ROLES,
        help="what this process runs: receiver (OTLP ingest), analyzer (the scheduled jobs, "
        "while it holds the analyzer lease), ui (API and dashboards), or all (default)",
    )
    net = parser.add_argument_group("network")
    net.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    net.add_argument("--api-port", type=int, help="HTTP API and UI port (default 8050)")
    net.add_argument("--otlp-http-port", type=int, help="OTLP/HTTP port (default 4318)")
    net.add_argument("--otlp-grpc-port", type=int, help="OTLP/gRPC port (default 4317)")
    net.add_argument(
        "--token", help="require this bearer token on ingest and API (TAILSIGHT_TOKEN)"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    # Everything this process writes (store, spool, quarantine) is for its user alone.
    os.umask(0o077)
    if args.log_level is None:
        logging.getLogger().setLevel(logging.INFO)
        # Every run of every job at INFO (the analysis runs every 5 s) drowns the log;
        # failed runs are logged by the jobs themselves.
        logging.getLogger("apscheduler").setLevel(logging.WARNING)
    with opened_store(settings, api_url=settings.api_base_url) as store:
        log.info(
            "store %s (database %s), role %s", store.display_url, store.database, settings.role
        )
        runner = Runner(settings, store, build_components(settings, store))
        try:
            asyncio.run(runner.run())
        except BindError as exc:
            raise CliError(str(exc)) from None
    print("tailsight stopped", file=sys.stderr)
    return 0
