"""build_notifiers(): ${ENV} expansion, redacted secrets, and errors naming entry and field."""

from __future__ import annotations

import pytest

from tailsight.alerts.notifiers import build_notifiers
from tailsight.alerts.notifiers.email import EmailNotifier
from tailsight.alerts.notifiers.pagerduty import DEFAULT_URL, PagerDutyNotifier
from tailsight.config import ConfigError, load_settings

ENV = {
    "SLACK_URL": "https://hooks.slack.com/services/T1/B2/sl4ckS3cret",
    "PD_KEY": "pdR0utingKeySecret0000000000000",
    "SMTP_PASS": "smtpPa55",
}


def build(configs: list[dict[str, object]], smtp_url: str | None = None) -> list[object]:
    return list(build_notifiers(configs, smtp_url, "alerts@example.com", "http://ts:8050", env=ENV))


def test_every_type_builds_with_env_secrets_and_reprs_hide_them() -> None:
    notifiers = build(
        [
            {"type": "alertmanager", "url": "http://am:9093"},
            {"type": "webhook", "url": "https://hooks.example/in?token=${PD_KEY}", "name": "ops"},
            {"type": "slack", "webhook_url": "${SLACK_URL}"},
            {"type": "pagerduty", "routing_key": "${PD_KEY}"},
            {"type": "email", "to": ["oncall@example.com", "sre@example.com"]},
        ],
        smtp_url="smtp://alerts:${SMTP_PASS}@mail.example:587".replace(
            "${SMTP_PASS}", ENV["SMTP_PASS"]
        ),
    )
    assert [n.name for n in notifiers] == [  # type: ignore[attr-defined]
        "alertmanager", "webhook:ops", "slack", "pagerduty", "email",
    ]  # fmt: skip
    shown = " ".join(repr(n) for n in notifiers)
    for secret in ENV.values():
        assert secret not in shown
    assert "hooks.slack.com" in shown
    pd = notifiers[3]
    assert isinstance(pd, PagerDutyNotifier) and pd._url == DEFAULT_URL
    assert pd._routing_key == ENV["PD_KEY"]
    mail = notifiers[4]
    assert isinstance(mail, EmailNotifier)
    assert mail.server.password == "smtpPa55" and mail.server.port == 587
    assert (
        mail.to == ("oncall@example.com", "sre@example.com") and mail.sender == "alerts@example.com"
    )


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            {"type": "slakc"},
            r"notifiers\[0\] \(slakc\): type: unknown type 'slakc' \(one of alertmanager",
        ),
        ({"url": "http://x"}, r"notifiers\[0\]: type: is required"),
        ({"type": "webhook"}, r"notifiers\[0\] \(webhook\): url: is required"),
        (
            {"type": "webhook", "url": "ftp://x/y"},
            r"notifiers\[0\] \(webhook\): url: expected an http",
        ),
        ({"type": "webhook", "url": "http://x:port/"}, r"url: has a port that is not a number"),
        (
            {"type": "slack", "webhook_url": "http://h/x", "channel": "#a"},
            r"\(slack\): channel: unknown key",
        ),
        ({"type": "pagerduty"}, r"\(pagerduty\): routing_key: is required"),
        (
            {"type": "alertmanager", "url": "http://am", "valid_for_s": -1},
            r"valid_for_s: expected a positive",
        ),
        ({"type": "email"}, r"\(email\): to: is required"),
        ({"type": "email", "to": "oncall"}, r"\(email\): to: 'oncall' is not an email address"),
        ({"type": "email", "to": "a@b"}, r"\(email\): smtp_url: the email notifier needs"),
        ({"type": "webhook", "name": "", "url": "http://x"}, r"name: expected a non-empty string"),
    ],
)
def test_config_errors_name_entry_and_field(config: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build([config])


def test_unset_env_var_is_named_and_index_counts_entries() -> None:
    with pytest.raises(
        ConfigError,
        match=r"notifiers\[1\] \(slack\): webhook_url: environment variable NOPE is not set",
    ):
        build([{"type": "webhook", "url": "http://x"}, {"type": "slack", "webhook_url": "${NOPE}"}])


def test_bad_url_error_never_echoes_the_secret() -> None:
    with pytest.raises(ConfigError) as caught:
        build([{"type": "slack", "webhook_url": "hooks.slack.com/services/${SLACK_URL}"}])
    assert "sl4ckS3cret" not in str(caught.value)
    assert "webhook_url" in str(caught.value)


def test_bad_smtp_url_never_echoes_the_password() -> None:
    with pytest.raises(ConfigError) as caught:
        build([{"type": "email", "to": "a@b.c"}], smtp_url="mail://u:smtpPa55@h")
    assert "smtpPa55" not in str(caught.value)
    assert "notifiers[0] (email): smtp_url:" in str(caught.value)


def test_duplicate_names_are_refused() -> None:
    with pytest.raises(
        ConfigError, match=r"notifiers\[1\] \(webhook\): name: 'webhook' is taken by notifiers\[0\]"
    ):
        build([{"type": "webhook", "url": "http://a"}, {"type": "webhook", "url": "http://b"}])


def test_notifiers_from_a_config_file(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    path = tmp_path / "tailsight.yaml"
    path.write_text(
        "notifiers:\n"
        "  - type: slack\n    webhook_url: ${SLACK_URL}\n"
        "  - type: webhook\n    name: ops\n    url: http://hooks.example/alert\n"
    )
    settings = load_settings(env={}, config_file=path)
    notifiers = build_notifiers(
        settings.notifiers, settings.smtp_url, settings.smtp_from, settings.external_url, env=ENV
    )
    assert [n.name for n in notifiers] == ["slack", "webhook:ops"]
