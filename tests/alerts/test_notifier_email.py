"""The email notifier against a real SMTP server (aiosmtpd) that offers STARTTLS with a
certificate made in the test and requires AUTH over TLS."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tailsight.alerts.notifiers import NotifyError, build_notifiers, deliver
from tailsight.alerts.notifiers.email import EmailNotifier, parse_smtp_url, subject
from tests.alerts.peers import sample_alert, self_signed_cert
from tests.conftest import free_port

pytestmark = pytest.mark.integration

USER, PASSWORD = "alerts", "s3cret-pw"


@dataclass
class Mailbox:
    """What the SMTP server received, and who logged in."""

    messages: list[tuple[str, list[str], bytes]] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted for delivery"

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        if isinstance(data, LoginPassword) and (data.login, data.password) == (
            USER.encode(),
            PASSWORD.encode(),
        ):
            self.logins.append(data.login.decode())
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False)


@dataclass
class SmtpPeer:
    mailbox: Mailbox
    port: int
    cert: Path


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[SmtpPeer]:
    cert, key = self_signed_cert(tmp_path)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(
        mailbox,
        hostname="127.0.0.1",
        port=port,
        tls_context=tls,
        require_starttls=True,
        authenticator=mailbox.authenticate,
        auth_require_tls=True,
        ready_timeout=10,
    )
    controller.start()
    try:
        yield SmtpPeer(mailbox, port, cert)
    finally:
        controller.stop()


def notifier_for(peer: SmtpPeer, password: str = PASSWORD) -> EmailNotifier:
    [notifier] = build_notifiers(
        [{"type": "email", "to": "oncall@example.com, sre@example.com", "ca_file": str(peer.cert)}],
        f"smtp://{USER}:{password}@127.0.0.1:{peer.port}",
        "tailsight@example.com",
        "http://ts:8050",
        env={},
    )
    assert isinstance(notifier, EmailNotifier)
    return notifier


def parts(raw: bytes) -> tuple[EmailMessage, str, str]:
    msg = message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    assert msg.get_content_type() == "multipart/alternative"
    text = msg.get_body(preferencelist=("plain",))
    html = msg.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    return msg, text.get_content(), html.get_content()


def test_firing_and_resolved_mail_over_starttls_with_auth(smtp: SmtpPeer) -> None:
    notifier = notifier_for(smtp)
    firing, resolved = sample_alert("firing"), sample_alert("resolved")
    out = asyncio.run(deliver(firing, [notifier], attempts=1, timeout_s=20))
    assert [d.ok for d in out] == [True], out
    asyncio.run(notifier.notify(resolved))

    assert smtp.mailbox.logins == [
        USER,
        USER,
    ]  # AUTH happened, which the server allows only over TLS
    assert len(smtp.mailbox.messages) == 2
    sender, rcpts, raw = smtp.mailbox.messages[0]
    assert sender == "tailsight@example.com"
    assert rcpts == ["oncall@example.com", "sre@example.com"]
    msg, text, html = parts(raw)
    subject = msg["Subject"]
    # The summary names service and culprit already: neither is repeated.
    assert subject == f"[FIRING page] {firing.summary}"
    assert msg["From"] == "tailsight@example.com"
    assert msg["To"] == "oncall@example.com, sre@example.com"
    assert "Culprit:     gpu:node-7/3" in text and firing.url in text
    assert "<th align='left'>Culprit</th><td>gpu:node-7/3</td>" in html
    assert f"href='{firing.url}'" in html
    assert "88 °C" in text and "88 °C" in html

    done, text2, _ = parts(smtp.mailbox.messages[1][2])
    assert done["Subject"] == f"[RESOLVED page] {firing.summary}"
    assert "Resolved:" in text2
    assert done["References"] == msg["References"]  # threaded with the firing mail
    assert done["Message-ID"] != msg["Message-ID"]


def test_subject_is_one_line_whatever_the_summary() -> None:
    assert subject(sample_alert(summary="p99 4 s\r\nBcc: x@evil")) == (
        "[FIRING page] llm-gateway: p99 4 s Bcc: x@evil (culprit gpu:node-7/3)"
    )


def test_wrong_password_is_not_retried_and_not_shown(smtp: SmtpPeer) -> None:
    notifier = notifier_for(smtp, password="wrong-pw-123")
    out = asyncio.run(deliver(sample_alert(), [notifier], attempts=3, backoff_s=0.01, timeout_s=20))
    assert len(out) == 1 and not out[0].ok
    assert out[0].error is not None and "SMTP 535" in out[0].error
    assert "wrong-pw-123" not in out[0].error and "wrong-pw-123" not in repr(notifier)
    assert smtp.mailbox.messages == []


def test_untrusted_certificate_fails_without_sending(smtp: SmtpPeer) -> None:
    notifier = EmailNotifier(
        "email",
        parse_smtp_url(f"smtp://{USER}:{PASSWORD}@127.0.0.1:{smtp.port}"),
        sender="t@example.com",
        to=["a@example.com"],
    )  # the system trust store, which does not know the test's certificate
    with pytest.raises(NotifyError, match="SSLCertVerificationError") as caught:
        asyncio.run(notifier.notify(sample_alert()))
    assert not caught.value.retryable
    assert PASSWORD not in str(caught.value)
    assert smtp.mailbox.messages == [] and smtp.mailbox.logins == []


def test_refused_smtp_connection_is_retryable() -> None:
    notifier = EmailNotifier(
        "email",
        parse_smtp_url(f"smtp://127.0.0.1:{free_port()}"),
        sender="t@example.com",
        to=["a@example.com"],
    )
    with pytest.raises(NotifyError) as caught:
        asyncio.run(notifier.notify(sample_alert()))
    assert caught.value.retryable
    assert "ConnectionRefusedError" in str(caught.value)


def test_plain_relay_gets_mail_but_never_a_password() -> None:
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(
        mailbox,
        hostname="127.0.0.1",
        port=port,
        authenticator=mailbox.authenticate,
        auth_require_tls=False,  # would take a password in clear; tailsight must not offer one
        ready_timeout=10,
    )
    controller.start()
    try:
        anonymous = EmailNotifier(
            "email",
            parse_smtp_url(f"smtp://127.0.0.1:{port}"),
            sender="t@example.com",
            to=["a@example.com"],
        )
        asyncio.run(anonymous.notify(sample_alert()))
        with_password = EmailNotifier(
            "email",
            parse_smtp_url(f"smtp://{USER}:{PASSWORD}@127.0.0.1:{port}"),
            sender="t@example.com",
            to=["a@example.com"],
        )
        with pytest.raises(NotifyError, match="offers no STARTTLS") as caught:
            asyncio.run(with_password.notify(sample_alert()))
    finally:
        controller.stop()
    assert not caught.value.retryable
    assert len(mailbox.messages) == 1 and mailbox.logins == []
