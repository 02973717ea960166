"""``ExportTraceServiceRequest`` → rows of ``otel_traces``, as the Collector's exporter writes them."""

from __future__ import annotations

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tailsight.pipeline.anyvalue import attr_map, hex_id
from tailsight.pipeline.batch import Decoded, TableBatch

TRACE_COLUMNS = (
    "Timestamp",
    "TraceId",
    "SpanId",
    "ParentSpanId",
    "TraceState",
    "SpanName",
    "SpanKind",
    "ServiceName",
    "ResourceAttributes",
    "ScopeName",
    "ScopeVersion",
    "SpanAttributes",
    "Duration",
    "StatusCode",
    "StatusMessage",
    "Events.Timestamp",
    "Events.Name",
    "Events.Attributes",
    "Links.TraceId",
    "Links.SpanId",
    "Links.TraceState",
    "Links.Attributes",
)

# traceutil.SpanKindStr / StatusCodeStr of the Collector, indexed by the enum value.
SPAN_KINDS = ("Unspecified", "Internal", "Server", "Client", "Producer", "Consumer")
STATUS_CODES = ("Unset", "Ok", "Error")


class InvalidRequest(ValueError):
    """The request is well-formed protobuf but breaks an OTLP rule; the message names which."""


def check_traces(req: ExportTraceServiceRequest) -> tuple[int, int]:
    """Spans in the request and how many of them will be rejected (empty ids).

    Raises :class:`InvalidRequest` for ids of a wrong length, as the Collector does.
    """
    total = rejected = 0
    for rs in req.resource_spans:
        for ss in rs.scope_spans:
            for span in ss.spans:
                t, s, p = len(span.trace_id), len(span.span_id), len(span.parent_span_id)
                if (t and t != 16) or (s and s != 8) or (p and p != 8):
                    raise InvalidRequest(
                        f"span {span.name!r}: trace_id must be 16 bytes and span ids 8 bytes "
                        f"(got {t}, {s}, {p})"
                    )
                if not t or not s:
                    rejected += 1
            total += len(ss.spans)
    return total, rejected


def decode_traces(req: ExportTraceServiceRequest) -> Decoded:
    """Rows of ``otel_traces``; spans without a trace or span id are rejected."""
    batch = TableBatch("otel_traces", TRACE_COLUMNS)
    (
        ts,
        tid,
        sid,
        pid,
        tstate,
        name,
        kind,
        service,
        rattrs,
        sname,
        sversion,
        sattrs,
        duration,
        status,
        smsg,
        ev_ts,
        ev_name,
        ev_attrs,
        ln_tid,
        ln_sid,
        ln_state,
        ln_attrs,
    ) = batch.columns
    kinds, codes = SPAN_KINDS, STATUS_CODES
    accepted = rejected = 0
    for rs in req.resource_spans:
        resource = attr_map(rs.resource.attributes)
        service_name = resource.get("service.name", "")
        for ss in rs.scope_spans:
            scope_name, scope_version = ss.scope.name, ss.scope.version
            n = 0
            for span in ss.spans:
                trace_id, span_id = span.trace_id, span.span_id
                if not trace_id or not span_id:
                    rejected += 1
                    continue
                n += 1
                start = span.start_time_unix_nano
                ts.append(start)
                tid.append(hex_id(trace_id))
                sid.append(hex_id(span_id))
                pid.append(hex_id(span.parent_span_id))
                tstate.append(span.trace_state)
                name.append(span.name)
                k = span.kind
                kind.append(kinds[k] if 0 <= k < 6 else "")
                sattrs.append(attr_map(span.attributes))
                # The exporter writes uint64(end - start): a span ending before it starts wraps.
                duration.append((span.end_time_unix_nano - start) & 0xFFFFFFFFFFFFFFFF)
                st = span.status
                c = st.code
                status.append(codes[c] if 0 <= c < 3 else "")
                smsg.append(st.message)
                events = span.events
                if events:
                    ev_ts.append([e.time_unix_nano for e in events])
                    ev_name.append([e.name for e in events])
                    ev_attrs.append([attr_map(e.attributes) for e in events])
                else:
                    ev_ts.append([])
                    ev_name.append([])
                    ev_attrs.append([])
                links = span.links
                if links:
                    ln_tid.append([hex_id(x.trace_id) for x in links])
                    ln_sid.append([hex_id(x.span_id) for x in links])
                    ln_state.append([x.trace_state for x in links])
                    ln_attrs.append([attr_map(x.attributes) for x in links])
                else:
                    ln_tid.append([])
                    ln_sid.append([])
                    ln_state.append([])
                    ln_attrs.append([])
            service.extend([service_name] * n)
            rattrs.extend([resource] * n)
            sname.extend([scope_name] * n)
            sversion.extend([scope_version] * n)
            accepted += n
    message = f"{rejected} spans without a trace or span id" if rejected else ""
    return Decoded((batch,), accepted, rejected, message)
