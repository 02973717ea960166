"""``tailsight alerts list|silence|ack|unsilence``: alerts and silences (CONTRACT §7).

Like ``incidents``, it asks a running ``tailsight up`` through its API when one holds the
store, else opens the store itself; both give the same JSON.
"""

from __future__ import annotations

import argparse
import getpass
import json
import urllib.parse
from datetime import UTC, datetime
from typing import Any

from tailsight.cli import CliError
from tailsight.cli.backend import ApiBackend, choose_backend
from tailsight.cli.common import add_api_flags, add_store_flags, opened_store, settings_from
from tailsight.config import Settings
from tailsight.timeutil import parse_time


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "alerts",
        help="list alerts; silence or acknowledge them",
        description="Alerts (burn-rate and incident) with their root cause and deliveries, "
        "and silences. Uses the API of a running `tailsight up` when it holds the store.",
    )
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    ls = verbs.add_parser("list", help="alerts, newest first")
    ls.add_argument("--state", choices=["firing", "resolved", "all"], default="all")
    ls.add_argument("--since", default="24h", help="ISO time, unix seconds or duration")
    sil = verbs.add_parser("silence", help="mute the alerts matching all matchers for a while")
    sil.add_argument(
        "--matcher",
        action="append",
        required=True,
        help="label matcher: service=embedder, severity!=ticket, alertname=~'incident:.*' "
        "(repeat for several)",
    )
    sil.add_argument("--for", dest="duration", default="2h", help="how long (default 2h)")
    sil.add_argument("--comment", default="", help="why")
    verbs.add_parser("silences", help="silences in force")
    unsil = verbs.add_parser("unsilence", help="end a silence now")
    unsil.add_argument("id")
    ack = verbs.add_parser("ack", help="acknowledge an alert: no more repeats of its page")
    ack.add_argument("fingerprint")
    for p in (ls, sil, unsil, ack, verbs.choices["silences"]):
        p.add_argument("--json", action="store_true", help="print JSON")
        add_store_flags(p)
        add_api_flags(p)
        p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    now = datetime.now(UTC)
    backend = choose_backend(settings)
    try:
        if isinstance(backend, ApiBackend):
            result = _via_api(backend, args, now)
        else:
            result = _via_store(settings, args, now)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if args.json:
        print(json.dumps(result, indent=2))
    elif args.verb == "list":
        print(render_alerts(result))
    elif args.verb == "silences":
        print(render_silences(result))
    elif args.verb == "ack":
        print(f"acknowledged {result['name']} ({result['fingerprint']})")
    else:
        print(render_silences([result]))
    return 0


def _silence_body(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "matchers": args.matcher,
        "for": args.duration,
        "comment": args.comment,
        "created_by": getpass.getuser(),
    }


def _via_api(api: ApiBackend, args: argparse.Namespace, now: datetime) -> Any:
    if args.verb == "list":
        since = parse_time(args.since, now).isoformat()
        query = urllib.parse.urlencode({"state": args.state, "since": since})
        return api.call("GET", f"/api/v1/alerts?{query}")
    if args.verb == "silence":
        return api.call("POST", "/api/v1/silences", _silence_body(args))
    if args.verb == "silences":
        return api.call("GET", "/api/v1/silences")
    if args.verb == "unsilence":
        return api.call("DELETE", f"/api/v1/silences/{urllib.parse.quote(args.id)}")
    return api.call("POST", f"/api/v1/alerts/{urllib.parse.quote(args.fingerprint)}/ack", {})


def _via_store(settings: Settings, args: argparse.Namespace, now: datetime) -> Any:
    from tailsight.app.alerting import add_silence, alerts_json, expire_silence
    from tailsight.storage.alerts import acknowledge, list_silences

    with opened_store(settings) as store:
        if args.verb == "list":
            return alerts_json(store, args.state, parse_time(args.since, now), now)
        if args.verb == "silence":
            return add_silence(store, _silence_body(args), now).to_json()
        if args.verb == "silences":
            return [s.to_json() for s in list_silences(store, now)]
        if args.verb == "unsilence":
            ended = expire_silence(store, args.id, now)
            if ended is None:
                raise CliError(f"no silence {args.id}")
            return ended.to_json()
        acked = acknowledge(store, args.fingerprint, getpass.getuser())
        if acked is None:
            raise CliError(f"no alert with fingerprint {args.fingerprint}")
        return acked.to_json()


def _short(text: str | None) -> str:
    return (text or "-").replace("T", " ").replace("Z", "")[:19]


def render_alerts(alerts: list[dict[str, Any]]) -> str:
    """A terminal table of alerts; the summary line under each names the culprit."""
    if not alerts:
        return "no alerts in this range"
    header = ("STATE", "SEVERITY", "NAME", "SERVICE", "STARTS (UTC)", "ENDS", "FINGERPRINT")
    rows = [
        (
            a["state"] + (" (silenced)" if a.get("silenced") else "")
            + (" (acked)" if a.get("acknowledged") else ""),
            a["severity"],
            a["name"],
            a["service"],
            _short(a["starts_at"]),
            _short(a.get("ends_at")),
            a["fingerprint"],
        )
        for a in alerts
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(header, widths, strict=True)).rstrip()]
    for alert, row in zip(alerts, rows, strict=True):
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        lines.append(f"    {alert['summary']}")
        sent = [d for d in alert.get("deliveries", []) if d["ok"]]
        if sent:
            lines.append("    sent: " + ", ".join(f"{d['notifier']} ({d['state']})" for d in sent))
    return "\n".join(lines)


def render_silences(silences: list[dict[str, Any]]) -> str:
    if not silences:
        return "no silences in force"
    return "\n".join(
        f"{s['id']}  {', '.join(s['matchers'])}  until {_short(s['ends_at'])}"
        + (f"  ({s['comment']})" if s.get("comment") else "")
        for s in silences
    )
