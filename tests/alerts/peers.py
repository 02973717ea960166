"""Real local peers for the notifier tests: an HTTP server that records what it is sent,
a real SMTP server (aiosmtpd) with STARTTLS and AUTH, and a sample alert."""

from __future__ import annotations

import ipaddress
import json
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tailsight.alerts.model import Alert, RootCause

# One start for every sample alert of a run, so a firing and a resolved alert made apart
# are the same alert; relative to now, as the store and the checks of "past" need.
ALERT_START = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=20)
HANG_LIMIT_S = 30.0  # a hanging handler never outlives this, even if a test forgets it


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.time)  # when it arrived

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class _Plan:
    statuses: list[tuple[int, dict[str, str], bytes]] = field(default_factory=list)
    hang: bool = False


class HttpPeer:
    """An HTTP server on 127.0.0.1 standing in for Slack, PagerDuty, a webhook receiver or
    Alertmanager: it records every request, then answers as planned per path (200 ``ok``
    unless told otherwise, or never, until stopped)."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self._plans: dict[str, _Plan] = {}
        self._lock = threading.Lock()
        self._release = threading.Event()
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                status, headers, reply = peer._take(
                    Request(
                        "POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body
                    )
                )
                if status == 0:
                    peer._release.wait(HANG_LIMIT_S)
                    return
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def respond(
        self, path: str, *statuses: int, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> None:
        """Answer requests to ``path`` with these statuses in turn (the last one repeats)."""
        with self._lock:
            self._plans[path] = _Plan([(s, headers or {}, body) for s in statuses])

    def hang(self, path: str) -> None:
        """Never answer requests to ``path`` (until the peer stops)."""
        with self._lock:
            self._plans[path] = _Plan(hang=True)

    def on(self, path: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def _take(self, request: Request) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            self.requests.append(request)
            plan = self._plans.get(request.path)
            if plan is not None and plan.hang:
                return 0, {}, b""
            if plan is None or not plan.statuses:
                return 200, {}, b"ok"
            return plan.statuses[0] if len(plan.statuses) == 1 else plan.statuses.pop(0)

    def stop(self) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1/localhost and its key, made now (cert, key paths)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def sample_alert(
    state: str = "firing",
    *,
    severity: str = "page",
    summary: str = "llm-gateway p99 latency 4.1 s > 2 s: culprit gpu:node-7/3 thermal throttling",
    url: str = "http://tailsight.example:8050/incidents/inc-42",
    root_cause: bool = True,
) -> Alert:
    """A burn-rate page on llm-gateway whose culprit is a throttling GPU, placed just before now."""
    start = ALERT_START
    cause = RootCause(
        kind="thermal_throttle",
        service="embedder",
        entity_type="gpu",
        entity_id="node-7/3",
        summary="GPU node-7/3 throttled at 88 °C; embedder p99 up 6x",
        score=0.93,
        incident_id="inc-42",
    )
    return Alert(
        fingerprint="5f1d2c3b4a596877",
        kind="burn_rate",
        name="llm-gateway-latency:1h/5m",
        severity=severity,
        service="llm-gateway",
        slo="llm-gateway-latency",
        state=state,
        starts_at=start,
        ends_at=start + timedelta(minutes=15) if state == "resolved" else None,
        summary=summary,
        description="Burning error budget 15.2x over 1 h and 18.0x over 5 m (page at 14.4x).",
        root_cause=cause if root_cause else None,
        incidents=("inc-42",),
        url=url,
    )
