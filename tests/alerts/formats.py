"""The published formats, as small schema checks written from each vendor's documentation.

- Alertmanager API v2 ``postableAlerts`` (api/v2/openapi.yaml): a list of
  ``{labels (required), annotations, startsAt, endsAt, generatorURL}``; label names match
  ``[a-zA-Z_][a-zA-Z0-9_]*``; times are RFC 3339; generatorURL is a URI.
- Alertmanager webhook (docs/configuration.md ``<webhook_config>``): ``version "4"``,
  ``groupKey``, ``truncatedAlerts``, ``status``, ``receiver``, ``groupLabels``,
  ``commonLabels``, ``commonAnnotations``, ``externalURL``, ``alerts`` each with
  ``status, labels, annotations, startsAt, endsAt, generatorURL, fingerprint``.
- Slack Block Kit (docs.slack.dev reference/block-kit): at most 50 blocks; header
  plain_text ≤ 150; section text ≤ 3000, ≤ 10 fields of ≤ 2000; button text ≤ 75, url ≤ 3000;
  context ≤ 10 elements; mrkdwn/plain_text objects; top-level ``text`` as fallback.
- PagerDuty Events API v2 (developer.pagerduty.com send-alert-event): ``routing_key``,
  ``event_action`` trigger|acknowledge|resolve, ``dedup_key`` ≤ 255; a trigger's
  ``payload`` needs ``summary`` (≤ 1024), ``source``, ``severity`` critical|error|warning|info,
  optional ``timestamp`` (ISO 8601), ``component``, ``group``, ``class``, ``custom_details``;
  ``links`` ``[{href, text}]``, ``images``, ``client``, ``client_url``.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def parse_time(text: str) -> datetime:
    assert isinstance(text, str) and RFC3339.match(text), f"not RFC 3339: {text!r}"
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _label_set(value: Any, what: str) -> None:
    assert isinstance(value, dict), f"{what}: not an object"
    for k, v in value.items():
        assert LABEL_NAME.match(k), f"{what}: bad label name {k!r}"
        assert isinstance(v, str), f"{what}.{k}: not a string"


def _uri(value: Any, what: str) -> None:
    assert isinstance(value, str), f"{what}: not a string"
    parts = urlsplit(value)
    assert parts.scheme and parts.netloc, f"{what}: not an absolute URI: {value!r}"


def _only(obj: dict[str, Any], allowed: set[str], what: str) -> None:
    extra = set(obj) - allowed
    assert not extra, f"{what}: fields not in the format: {sorted(extra)}"


def check_postable_alerts(body: Any) -> None:
    assert isinstance(body, list) and body, "postableAlerts: a non-empty list"
    for i, alert in enumerate(body):
        what = f"postableAlerts[{i}]"
        _only(alert, {"labels", "annotations", "startsAt", "endsAt", "generatorURL"}, what)
        assert alert.get("labels"), f"{what}.labels: required, non-empty"
        _label_set(alert["labels"], f"{what}.labels")
        if "annotations" in alert:
            _label_set(alert["annotations"], f"{what}.annotations")
        for key in ("startsAt", "endsAt"):
            if key in alert:
                parse_time(alert[key])
        if "generatorURL" in alert:
            _uri(alert["generatorURL"], f"{what}.generatorURL")


def check_webhook_v4(body: Any) -> None:
    required = {
        "version", "groupKey", "truncatedAlerts", "status", "receiver", "groupLabels",
        "commonLabels", "commonAnnotations", "externalURL", "alerts",
    }  # fmt: skip
    assert isinstance(body, dict)
    assert required <= set(body), f"webhook: missing {sorted(required - set(body))}"
    _only(body, required, "webhook")
    assert body["version"] == "4"
    assert isinstance(body["groupKey"], str) and body["groupKey"]
    assert isinstance(body["truncatedAlerts"], int) and body["truncatedAlerts"] >= 0
    assert body["status"] in ("firing", "resolved")
    assert isinstance(body["receiver"], str) and body["receiver"]
    for key in ("groupLabels", "commonLabels", "commonAnnotations"):
        _label_set(body[key], key)
    assert isinstance(body["externalURL"], str)
    assert isinstance(body["alerts"], list) and body["alerts"]
    fields = {
        "status",
        "labels",
        "annotations",
        "startsAt",
        "endsAt",
        "generatorURL",
        "fingerprint",
    }
    for i, alert in enumerate(body["alerts"]):
        what = f"alerts[{i}]"
        assert set(alert) == fields, f"{what}: fields {sorted(alert)}"
        assert alert["status"] in ("firing", "resolved")
        _label_set(alert["labels"], f"{what}.labels")
        _label_set(alert["annotations"], f"{what}.annotations")
        parse_time(alert["startsAt"])
        parse_time(alert["endsAt"])
        assert isinstance(alert["generatorURL"], str)
        assert isinstance(alert["fingerprint"], str) and alert["fingerprint"]
    # status is "firing" when any alert fires
    firing = any(a["status"] == "firing" for a in body["alerts"])
    assert body["status"] == ("firing" if firing else "resolved")


def _text_object(obj: Any, what: str, *, limit: int, plain_only: bool = False) -> str:
    assert isinstance(obj, dict), f"{what}: not a text object"
    kinds = ("plain_text",) if plain_only else ("plain_text", "mrkdwn")
    assert obj.get("type") in kinds, f"{what}.type: {obj.get('type')!r}"
    text = obj.get("text")
    assert isinstance(text, str) and text, f"{what}.text: empty"
    assert len(text) <= limit, f"{what}.text: {len(text)} > {limit} characters"
    return text


def check_slack_message(body: Any) -> None:
    assert isinstance(body, dict)
    assert isinstance(body.get("text"), str) and body["text"], "text: the fallback is required"
    blocks = body.get("blocks")
    assert isinstance(blocks, list) and 0 < len(blocks) <= 50, "blocks: 1 to 50"
    for i, block in enumerate(blocks):
        what = f"blocks[{i}]"
        kind = block.get("type")
        if kind == "header":
            _only(block, {"type", "text", "block_id"}, what)
            _text_object(block["text"], what, limit=150, plain_only=True)
        elif kind == "section":
            _only(block, {"type", "text", "fields", "accessory", "block_id"}, what)
            assert "text" in block or "fields" in block, f"{what}: text or fields required"
            if "text" in block:
                _text_object(block["text"], what, limit=3000)
            if "fields" in block:
                assert 0 < len(block["fields"]) <= 10, f"{what}.fields: 1 to 10"
                for j, f in enumerate(block["fields"]):
                    _text_object(f, f"{what}.fields[{j}]", limit=2000)
        elif kind == "actions":
            _only(block, {"type", "elements", "block_id"}, what)
            assert 0 < len(block["elements"]) <= 25
            for j, el in enumerate(block["elements"]):
                assert el["type"] == "button", f"{what}.elements[{j}]: a button"
                _text_object(el["text"], f"{what}.elements[{j}]", limit=75, plain_only=True)
                assert len(el.get("action_id", "")) <= 255
                if "url" in el:
                    assert len(el["url"]) <= 3000
                    _uri(el["url"], f"{what}.elements[{j}].url")
        elif kind == "context":
            _only(block, {"type", "elements", "block_id"}, what)
            assert 0 < len(block["elements"]) <= 10
            for j, el in enumerate(block["elements"]):
                _text_object(el, f"{what}.elements[{j}]", limit=3000)
        elif kind == "divider":
            _only(block, {"type", "block_id"}, what)
        else:
            raise AssertionError(f"{what}: block type {kind!r} not expected in an alert")


def check_pagerduty_event(body: Any) -> None:
    assert isinstance(body, dict)
    _only(
        body,
        {
            "routing_key",
            "event_action",
            "dedup_key",
            "payload",
            "images",
            "links",
            "client",
            "client_url",
        },
        "event",
    )
    assert isinstance(body.get("routing_key"), str) and body["routing_key"]
    assert body.get("event_action") in ("trigger", "acknowledge", "resolve")
    if "dedup_key" in body:
        assert isinstance(body["dedup_key"], str) and 0 < len(body["dedup_key"]) <= 255
    if body["event_action"] != "trigger":
        assert "dedup_key" in body, "acknowledge/resolve need the dedup_key"
        return
    payload = body.get("payload")
    assert isinstance(payload, dict), "a trigger needs a payload"
    _only(
        payload,
        {
            "summary",
            "source",
            "severity",
            "timestamp",
            "component",
            "group",
            "class",
            "custom_details",
        },
        "payload",
    )
    assert isinstance(payload.get("summary"), str) and 0 < len(payload["summary"]) <= 1024
    assert isinstance(payload.get("source"), str) and payload["source"]
    assert payload.get("severity") in ("critical", "error", "warning", "info")
    if "timestamp" in payload:
        parse_time(payload["timestamp"])
    for key in ("component", "group", "class"):
        if key in payload:
            assert isinstance(payload[key], str)
    if "custom_details" in payload:
        assert isinstance(payload["custom_details"], dict)
    for link in body.get("links", []):
        _only(link, {"href", "text"}, "links[]")
        _uri(link["href"], "links[].href")
    if "client_url" in body:
        _uri(body["client_url"], "client_url")
