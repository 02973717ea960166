"""``ExportLogsServiceRequest`` → rows of ``otel_logs``, as the Collector's exporter writes them."""

from __future__ import annotations

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from tailsight.pipeline.anyvalue import attr_map, hex_id, value_str
from tailsight.pipeline.batch import Decoded, TableBatch

LOG_COLUMNS = (
    "Timestamp",
    "TraceId",
    "SpanId",
    "TraceFlags",
    "SeverityText",
    "SeverityNumber",
    "ServiceName",
    "Body",
    "ResourceSchemaUrl",
    "ResourceAttributes",
    "ScopeSchemaUrl",
    "ScopeName",
    "ScopeVersion",
    "ScopeAttributes",
    "LogAttributes",
)


def count_logs(req: ExportLogsServiceRequest) -> int:
    """Log records in the request."""
    return sum(len(sl.log_records) for rl in req.resource_logs for sl in rl.scope_logs)


def decode_logs(req: ExportLogsServiceRequest) -> Decoded:
    """Rows of ``otel_logs``; a record without a timestamp takes its observed time."""
    batch = TableBatch("otel_logs", LOG_COLUMNS)
    cols = batch.columns
    records = 0
    for rl in req.resource_logs:
        resource = attr_map(rl.resource.attributes)
        service_name = resource.get("service.name", "")
        for sl in rl.scope_logs:
            scope = sl.scope
            scope_attrs = attr_map(scope.attributes)
            for r in sl.log_records:
                row = (
                    r.time_unix_nano or r.observed_time_unix_nano,
                    hex_id(r.trace_id),
                    hex_id(r.span_id),
                    r.flags & 0xFF,
                    r.severity_text,
                    r.severity_number & 0xFF,
                    service_name,
                    value_str(r.body),
                    rl.schema_url,
                    resource,
                    sl.schema_url,
                    scope.name,
                    scope.version,
                    scope_attrs,
                    attr_map(r.attributes),
                )
                for col, value in zip(cols, row, strict=True):
                    col.append(value)
                records += 1
    return Decoded((batch,), records)
