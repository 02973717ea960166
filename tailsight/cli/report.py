"""``tailsight report``: write the weekly SLO report of an ISO week as HTML or PDF (CONTRACT §8).

Like ``incidents``, it asks a running ``tailsight up`` when one holds the store (which
generates the week, keeps it under its data directory and serves the file), else it
opens the store and generates the report in this process, telling its progress on
stderr.
"""

from __future__ import annotations

import argparse
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from tailsight.cli import CliError
from tailsight.cli.backend import ApiBackend, choose_backend
from tailsight.cli.common import add_api_flags, add_store_flags, opened_store, settings_from
from tailsight.config import Settings
from tailsight.reports.week import IsoWeek, last_full_week, parse_week


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "report",
        help="write the weekly SLO report (HTML or PDF)",
        description="Write the weekly SLO report of an ISO week: SLOs met, at risk and "
        "breached with their error budgets, incidents by root cause, GPU efficiency. Uses "
        "a running `tailsight up` when it holds the store, else opens the store.",
    )
    parser.add_argument(
        "--week", help="ISO week such as 2026-W48 (default the last full week, report_timezone)"
    )
    parser.add_argument(
        "--format",
        choices=["html", "pdf"],
        help="output format (default from the --out suffix, else html)",
    )
    parser.add_argument("--out", required=True, metavar="FILE", help="file to write")
    add_store_flags(parser)
    add_api_flags(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    out = Path(args.out).expanduser()
    fmt = args.format or ("pdf" if out.suffix.lower() == ".pdf" else "html")
    try:
        if args.week:
            week = parse_week(args.week, settings.report_timezone)
        else:
            week = last_full_week(datetime.now(UTC), settings.report_timezone)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if not out.parent.is_dir():
        raise CliError(f"--out {out}: directory {out.parent} does not exist")
    started = time.monotonic()
    backend = choose_backend(settings)
    if isinstance(backend, ApiBackend):
        data = _from_api(backend, week, fmt)
    else:
        data = _from_store(settings, week, fmt)
    out.write_bytes(data)
    took = time.monotonic() - started
    print(f"report {week}: wrote {out} ({len(data):,} bytes, {took:.1f}s)", file=sys.stderr)
    return 0


def _progress(week: IsoWeek) -> Callable[[str], None]:
    started = time.monotonic()

    def say(message: str) -> None:
        print(f"report {week} [{time.monotonic() - started:5.1f}s] {message}", file=sys.stderr)

    return say


def _from_store(settings: Settings, week: IsoWeek, fmt: str) -> bytes:
    from tailsight.reports.job import generate_week

    with opened_store(settings) as store:
        rendered = generate_week(store, settings, week, progress=_progress(week), formats=(fmt,))
    if fmt == "pdf":
        assert rendered.pdf is not None
        return rendered.pdf
    return rendered.html.encode()


def _from_api(api: ApiBackend, week: IsoWeek, fmt: str) -> bytes:
    print(f"report {week}: generating in tailsight up at {api.base_url}", file=sys.stderr)
    entry = api.call("POST", "/api/v1/reports", {"week": str(week)})
    url = str(entry[f"{fmt}_url"])
    path = url[url.index("/reports/") :]
    request = urllib.request.Request(api.base_url + path)
    if api.token:
        request.add_header("Authorization", f"Bearer {api.token}")
    try:
        with urllib.request.urlopen(request, timeout=api.timeout) as response:
            return bytes(response.read())
    except (urllib.error.URLError, OSError) as exc:
        raise CliError(f"cannot fetch {path} from {api.base_url}: {exc}") from None
