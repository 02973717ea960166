"""``tailsight incidents``: list incidents as a table, or as CONTRACT §4 JSON with ``--json``."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import Any

from tailsight.cli import CliError
from tailsight.cli.backend import choose_backend
from tailsight.cli.common import add_api_flags, add_store_flags, settings_from
from tailsight.timeutil import parse_time


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "incidents",
        help="list tail-latency incidents and their causes",
        description="List incidents overlapping a time range, newest first. Uses the API of "
        "a running `tailsight up` when it holds the store, else opens the store.",
    )
    parser.add_argument(
        "--since", default="24h", help="ISO time, unix seconds or duration (default 24h)"
    )
    parser.add_argument("--until", help="ISO time, unix seconds or duration before now")
    parser.add_argument("--json", action="store_true", help="print JSON (CONTRACT §4)")
    add_store_flags(parser)
    add_api_flags(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    now = datetime.now(UTC)
    try:
        since = parse_time(args.since, now)
        until = parse_time(args.until, now) if args.until else None
    except ValueError as exc:
        raise CliError(str(exc)) from None
    found = choose_backend(settings).incidents(since, until)
    if args.json:
        print(json.dumps(found, indent=2))
    else:
        print(render_table(found))
    return 0


def _short_time(text: str | None) -> str:
    if not text:
        return "ongoing"
    return text.replace("T", " ").replace("Z", "")[:19]


def render_table(incidents: list[dict[str, Any]]) -> str:
    """A fixed-width table of incidents with their top cause, for a terminal."""
    if not incidents:
        return "no incidents in this range"
    header = ("START (UTC)", "END", "SERVICE", "P99 ms", "BASE ms", "TOP CAUSE", "SCORE", "CULPRIT")
    rows = []
    for inc in incidents:
        top = inc["causes"][0] if inc.get("causes") else {}
        entity = top.get("entity") or {}
        rows.append(
            (
                _short_time(inc["start"]),
                _short_time(inc.get("end")),
                inc["service"],
                f"{inc['p99_ms']:.1f}",
                f"{inc['baseline_p99_ms']:.1f}",
                top.get("kind", "-"),
                f"{top['score']:.2f}" if top else "-",
                f"{entity.get('type')}:{entity.get('id')}" if entity else "-",
            )
        )
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
    for inc, i in zip(incidents, range(1, len(lines)), strict=False):
        summary = inc["causes"][0]["summary"] if inc.get("causes") else ""
        if summary:
            lines[i] += f"\n    {summary}"
    return "\n".join(lines)
