"""The three OTLP signals: request/response types, how to validate, count and decode each.

Bodies are parsed here, from protobuf or from the OTLP JSON encoding (hex trace and span
ids, int64 as strings), into the request message; anything that does not parse or breaks
an OTLP rule raises :class:`InvalidRequest` with a one-line reason.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from tailsight.pipeline.batch import Decoded
from tailsight.pipeline.decode_logs import count_logs, decode_logs
from tailsight.pipeline.decode_metrics import count_points, decode_metrics
from tailsight.pipeline.decode_traces import InvalidRequest, check_traces, decode_traces
from tailsight.pipeline.times import check_log_times, check_metric_times, fix_trace_times

__all__ = ["InvalidRequest", "Signal", "SIGNALS", "SIGNAL_BY_CODE", "parse_body"]


@dataclass(frozen=True)
class Signal:
    """One OTLP signal: its HTTP path, spool code and message types."""

    name: str  # traces | metrics | logs
    code: int  # the signal's byte in spool records
    request: type[Message]
    response: type[Message]
    check: Callable[[Any], tuple[int, int]]  # -> (items, rejected items)
    decode: Callable[[Any], Decoded]
    partial_field: str  # the ExportPartialSuccess field counting rejected items
    fix: Callable[[Any], int]  # checks times (InvalidRequest), fixes what it may; -> items fixed

    @property
    def path(self) -> str:
        return f"/v1/{self.name}"

    def response_bytes(self, rejected: int = 0, message: str = "") -> bytes:
        resp = self.response()
        if rejected or message:
            partial = resp.partial_success  # type: ignore[attr-defined]
            setattr(partial, self.partial_field, rejected)
            partial.error_message = message
        return resp.SerializeToString()


SIGNALS = (
    Signal(
        "traces", 1, ExportTraceServiceRequest, ExportTraceServiceResponse,
        check_traces, decode_traces, "rejected_spans", fix_trace_times,
    ),
    Signal(
        "metrics", 2, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
        lambda r: (count_points(r), 0), decode_metrics, "rejected_data_points", check_metric_times,
    ),
    Signal(
        "logs", 3, ExportLogsServiceRequest, ExportLogsServiceResponse,
        lambda r: (count_logs(r), 0), decode_logs, "rejected_log_records", check_log_times,
    ),
)  # fmt: skip
SIGNAL_BY_CODE = {s.code: s for s in SIGNALS}

_ID_KEYS = frozenset({"traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"})


def _ids_to_base64(node: Any) -> None:
    """OTLP JSON writes ids in hex where protobuf's JSON mapping expects base64: convert in place."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _ID_KEYS and isinstance(value, str):
                try:
                    node[key] = base64.b64encode(bytes.fromhex(value)).decode()
                except ValueError:
                    raise InvalidRequest(f"{key} {value[:40]!r} is not hex") from None
            else:
                _ids_to_base64(value)
    elif isinstance(node, list):
        for item in node:
            _ids_to_base64(item)


def parse_body(signal: Signal, body: bytes, is_json: bool) -> Message:
    """The request message of ``body`` (protobuf or OTLP JSON), or :class:`InvalidRequest`."""
    msg = signal.request()
    if is_json:
        try:
            tree = json.loads(body)
        except (ValueError, RecursionError) as exc:
            raise InvalidRequest(f"body is not JSON: {exc}") from None
        if not isinstance(tree, dict):
            raise InvalidRequest(
                f"body must be a JSON object with {signal.request.__name__} fields"
            )
        _ids_to_base64(tree)
        try:
            json_format.ParseDict(tree, msg, ignore_unknown_fields=True)
        except (
            json_format.ParseError,
            ValueError,
            TypeError,
            RecursionError,
            SystemError,  # upb on a string holding a lone surrogate ("\ud800"), key or value
            UnicodeError,
        ) as exc:
            raise InvalidRequest(f"invalid OTLP JSON: {str(exc).splitlines()[0][:300]}") from None
    else:
        try:
            msg.ParseFromString(body)
        except (DecodeError, RecursionError, ValueError) as exc:
            raise InvalidRequest(
                f"body is not a valid {signal.request.__name__} protobuf: {exc}"
            ) from None
    return msg
