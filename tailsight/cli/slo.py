"""``tailsight slo``: list SLOs with their SLI, budget and burn rates, or check definition files."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from tailsight.alerts.slo import MetricSelector, Selector, Slo, check_slo_files
from tailsight.cli.backend import choose_backend
from tailsight.cli.common import add_api_flags, add_store_flags, settings_from

TABLE_WINDOWS = ("5m", "1h", "6h", "1d", "3d")


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "slo",
        help="list SLOs and their error budgets, or check OpenSLO files",
        description="SLOs defined as OpenSLO v1 YAML in slo_dir (CONTRACT §6).",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser(
        "list",
        help="SLI, error budget left and burn rates of every SLO",
        description="Evaluate every SLO of slo_dir now. Uses the API of a running "
        "`tailsight up` when it holds the store, else opens the store.",
    )
    listing.add_argument("--json", action="store_true", help="print JSON (CONTRACT §6)")
    add_store_flags(listing)
    add_api_flags(listing)
    listing.add_argument("--slo-dir", metavar="DIR", help="OpenSLO files (default <data-dir>/slos)")
    listing.set_defaults(handler=run_list)
    check = actions.add_parser(
        "check",
        help="validate OpenSLO files",
        description="Validate OpenSLO files; exit 1 listing file, document and field of "
        "each error, or print one line per SLO. References resolve against the other "
        "YAML files of each file's directory.",
    )
    check.add_argument("files", nargs="+", metavar="FILE", type=Path)
    check.set_defaults(handler=run_check)


def run_list(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    found = choose_backend(settings).slos()
    print(json.dumps(found, indent=2) if args.json else render_table(found))
    return 0


def run_check(args: argparse.Namespace) -> int:
    slos, errors = check_slo_files(list(args.files))
    for error in errors:
        print(error)
    if errors:
        print(f"{len(errors)} error{'s' if len(errors) != 1 else ''}; {len(slos)} SLO(s) valid")
        return 1
    for slo in slos:
        print(summary(slo))
    if not slos:
        print("no SLO documents found")
    return 0


def _selector(sel: Selector) -> str:
    if isinstance(sel, MetricSelector):
        attrs = ",".join(f"{k}={v}" for k, v in sel.attributes)
        under = f" <= {sel.max_value:g}" if sel.max_value is not None else ""
        return f"metric {sel.name}{'{' + attrs + '}' if attrs else ''}{under}"
    parts = [f"spans {sel.service}" + (f"/{sel.operation}" if sel.operation else "")]
    if sel.max_duration_ms is not None:
        parts.append(f"<= {sel.max_duration_ms:g} ms")
    if sel.ok:
        parts.append("ok")
    return " ".join(parts)


def summary(slo: Slo) -> str:
    """One line: name, file, target over window, good/total, alert rules and request floor."""
    window = f"{slo.window} rolling" if slo.rolling else f"{slo.window} calendar ({slo.time_zone})"
    rules = ", ".join(f"{r.severity} {r.factor:g}x {r.name}" for r in slo.rules) or "no alerts"
    return (
        f"{slo.name} ({slo.file}): {slo.service} {slo.target * 100:g}% over {window}; "
        f"good {_selector(slo.good)} / total {_selector(slo.total)}; {rules}; "
        f"min {slo.min_requests} requests"
    )


def _pct(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value * 100:.{digits}f}%"


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def render_table(slos: list[dict[str, Any]]) -> str:
    """A fixed-width table: SLI and budget over the window, burn rates, firing alerts."""
    if not slos:
        return "no SLOs defined (put OpenSLO YAML files in slo_dir; see `tailsight slo check`)"
    header = ("NAME", "SERVICE", "TARGET", "WINDOW", "SLI", "BUDGET LEFT", *TABLE_WINDOWS, "ALERTS")
    rows = [
        (
            s["name"],
            s["service"],
            _pct(s["target"], 2),
            s["window"],
            _pct(s["sli"]),
            _pct(s["error_budget_remaining"], 1),
            *(_rate(s["burn_rates"].get(w)) for w in TABLE_WINDOWS),
            str(s["alerts_firing"]),
        )
        for s in slos
    ]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
    lines.append("burn rates: budget spent per window relative to an even spend (1 = on budget)")
    return "\n".join(lines)
