"""``tailsight analyze``: detect and attribute incidents over a stored time range."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime

from tailsight.cli import CliError
from tailsight.cli.backend import choose_backend
from tailsight.cli.common import add_api_flags, add_store_flags, settings_from
from tailsight.cli.incidents import render_table
from tailsight.timeutil import parse_time


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "analyze",
        help="find incidents in a past range of stored data",
        description="Run spike detection and attribution over stored data of any range "
        "(backfilled data included) and replace that range's incidents. Uses the API of a "
        "running `tailsight up` when it holds the store, else opens the store.",
    )
    parser.add_argument(
        "--from", dest="start", required=True, help="ISO time, unix seconds or duration before now"
    )
    parser.add_argument(
        "--to", dest="end", default="now", help="ISO time, unix seconds or duration (default now)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON")
    add_store_flags(parser)
    add_api_flags(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    now = datetime.now(UTC)
    try:
        start, end = parse_time(args.start, now), parse_time(args.end, now)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if end <= start:
        raise CliError("--to must be after --from")
    result = choose_backend(settings).analyze(start, end)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(
            f"analysed {result['from']} .. {result['to']}: {len(result['incidents'])} incident(s)"
        )
        if result["incidents"]:
            print(render_table(result["incidents"]))
    return 0
