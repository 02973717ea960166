"""Alert emails over SMTP: STARTTLS when the server offers it, AUTH when credentials are given.

Sent from a worker thread with the standard library's ``smtplib``: it speaks STARTTLS,
AUTH and MIME correctly, adds no dependency, and alert mail is rare enough that a thread
per message costs nothing; the event loop never waits on the SMTP dialogue. The socket
timeout bounds the thread, so a hung server does not leave it behind for long.

``smtp_url`` (shared with the weekly report) is ``smtp://user:pass@host:port``
(``smtps://`` for TLS from the first byte). A password is never sent over a connection
that TLS does not protect.
"""

from __future__ import annotations

import asyncio
import html
import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from urllib.parse import unquote, urlsplit

from tailsight.alerts.model import Alert
from tailsight.alerts.notifiers.base import REDACTED, NotifierSpec, NotifyError, headline, redact
from tailsight.config import ConfigError
from tailsight.model import iso

KEYS = frozenset({"to", "ca_file"})
DEFAULT_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class SmtpServer:
    """Where mail goes, parsed from ``smtp_url``."""

    host: str
    port: int
    implicit_tls: bool
    username: str | None = None
    password: str | None = None

    def __repr__(self) -> str:
        user = f"{self.username}:{REDACTED}@" if self.username else ""
        scheme = "smtps" if self.implicit_tls else "smtp"
        return f"SmtpServer({scheme}://{user}{self.host}:{self.port})"


def parse_smtp_url(url: str) -> SmtpServer:
    """``smtp://user:pass@host:port`` or ``smtps://…``; the error never repeats the URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ConfigError("smtp_url: expected smtp://[user:pass@]host[:port] or smtps://…")
    try:
        port = parts.port
    except ValueError:
        raise ConfigError("smtp_url: the port is not a number") from None
    implicit = parts.scheme == "smtps"
    return SmtpServer(
        host=parts.hostname,
        port=port or (465 if implicit else 25),
        implicit_tls=implicit,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
    )


def subject(alert: Alert) -> str:
    """State, severity, service and culprit, on one line (:func:`headline`)."""
    # One line: a line break in a summary must not end (or inject into) the header.
    return " ".join(headline(alert).split())


def alert_email(alert: Alert, *, sender: str, to: Sequence[str]) -> EmailMessage:
    """A multipart/alternative message: plain text, then HTML."""
    cause = alert.root_cause
    rows = [
        ("State", alert.state),
        ("Severity", alert.severity),
        ("Service", alert.service),
        ("SLO", alert.slo or "-"),
        ("Culprit", cause.culprit if cause else "unknown"),
        ("Cause", f"{cause.kind}: {cause.summary}" if cause else "not found"),
        ("Started", iso(alert.starts_at) or ""),
    ]
    if alert.state == "resolved":
        rows.append(("Resolved", iso(alert.ends_at) or ""))
    rows += [("Incidents", ", ".join(alert.incidents) or "-"), ("Fingerprint", alert.fingerprint)]
    text = "\n".join(
        [alert.summary, "", alert.description, "", *(f"{k + ':':<12} {v}" for k, v in rows)]
        + (["", f"Evidence: {alert.url}"] if alert.url else [])
    )
    cells = "".join(
        f"<tr><th align='left'>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows
    )
    link = (
        f"<p><a href='{html.escape(alert.url, quote=True)}'>Open the evidence in tailsight</a></p>"
        if alert.url
        else ""
    )
    body = (
        "<!doctype html><html><body>"
        f"<h2>{html.escape(alert.summary)}</h2><p>{html.escape(alert.description)}</p>"
        f"<table cellpadding='4'>{cells}</table>{link}</body></html>"
    )
    msg = EmailMessage()
    msg["Subject"] = subject(alert)
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = make_msgid(domain="tailsight")
    # Mail clients thread the firing and resolved messages of one alert together.
    thread = f"<{alert.fingerprint}.{int(alert.starts_at.timestamp())}@tailsight>"
    msg["References"] = thread
    msg["X-Tailsight-Fingerprint"] = alert.fingerprint
    msg.set_content(text)
    msg.add_alternative(body, subtype="html")
    return msg


class EmailNotifier:
    """Mails alerts to ``to`` through one SMTP server."""

    def __init__(
        self,
        name: str,
        server: SmtpServer,
        *,
        sender: str,
        to: Sequence[str],
        ssl_context: ssl.SSLContext | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self.name = name
        self.server = server
        self.sender = sender
        self.to = tuple(to)
        self._ssl = ssl_context or ssl.create_default_context()
        self.timeout_s = timeout_s

    def __repr__(self) -> str:
        return f"EmailNotifier(name={self.name!r}, server={self.server!r}, to={self.to!r})"

    async def notify(self, alert: Alert) -> None:
        msg = alert_email(alert, sender=self.sender, to=self.to)
        await asyncio.to_thread(self._send, msg)

    def _send(self, msg: EmailMessage) -> None:
        srv = self.server
        secrets = [s for s in (srv.password,) if s]
        try:
            smtp: smtplib.SMTP
            if srv.implicit_tls:
                smtp = smtplib.SMTP_SSL(
                    srv.host, srv.port, timeout=self.timeout_s, context=self._ssl
                )
            else:
                smtp = smtplib.SMTP(srv.host, srv.port, timeout=self.timeout_s)
            with smtp:
                smtp.ehlo()
                tls = srv.implicit_tls
                if not tls and smtp.has_extn("starttls"):
                    smtp.starttls(context=self._ssl)
                    smtp.ehlo()
                    tls = True
                if srv.username:
                    if not tls:
                        raise NotifyError(
                            f"{srv.host}:{srv.port} offers no STARTTLS; "
                            "the password is not sent in clear",
                            retryable=False,
                        )
                    smtp.login(srv.username, srv.password or "")
                smtp.send_message(msg)
        except NotifyError:
            raise
        except smtplib.SMTPResponseException as exc:
            text = (
                exc.smtp_error.decode(errors="replace")
                if isinstance(exc.smtp_error, bytes)
                else str(exc.smtp_error)
            )
            raise NotifyError(
                redact(f"{srv.host}:{srv.port}: SMTP {exc.smtp_code} {text}", secrets),
                retryable=exc.smtp_code >= 400 and exc.smtp_code < 500,
            ) from None
        except smtplib.SMTPRecipientsRefused as exc:
            raise NotifyError(
                f"{srv.host}:{srv.port}: recipients refused: {', '.join(exc.recipients)}",
                retryable=False,
            ) from None
        except (OSError, smtplib.SMTPException) as exc:
            # Connection refused, timeouts, TLS failures, dropped connections.
            detail = redact(str(exc), secrets) or type(exc).__name__
            raise NotifyError(
                f"{srv.host}:{srv.port}: {type(exc).__name__}: {detail}",
                retryable=not isinstance(exc, ssl.SSLCertVerificationError),
            ) from None


def _recipients(spec: NotifierSpec) -> tuple[str, ...]:
    raw = spec.settings.get("to")
    if raw is None:
        raise spec.error("to", "is required (an address or a list of addresses)")
    items = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(items, list) or not items:
        raise spec.error("to", "expected an address or a list of addresses")
    out = []
    for item in items:
        if not isinstance(item, str) or "@" not in item.strip():
            raise spec.error("to", f"{item!r} is not an email address")
        out.append(item.strip())
    return tuple(out)


def from_spec(spec: NotifierSpec) -> EmailNotifier:
    spec.check_keys(KEYS)
    to = _recipients(spec)
    if not spec.smtp_url:
        raise spec.error("smtp_url", "the email notifier needs the smtp_url setting")
    try:
        server = parse_smtp_url(spec.smtp_url)
    except ConfigError as exc:
        raise ConfigError(f"{spec.where}: {exc}") from None
    context = None
    if "ca_file" in spec.settings:
        ca_file = spec.text("ca_file")
        try:
            context = ssl.create_default_context(cafile=ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise spec.error("ca_file", f"cannot load {ca_file}: {exc}") from None
    return EmailNotifier(spec.name, server, sender=spec.smtp_from, to=to, ssl_context=context)
