"""OTLP trace requests inserted by the store itself: ClickHouse parses the protobuf.

The fastest path we measured for spans: the engine reads length-delimited
``ExportTraceServiceRequest`` messages (format ``Protobuf``) with a wire-compatible
schema, and one ``INSERT … SELECT`` flattens resource → scope → span and renders every
column the way the OpenTelemetry Collector's ClickHouse exporter does (hex ids, kind and
status names, attribute values as strings). No per-span Python work at all.

Attribute values: strings, ints, bools, doubles (printed like Go/JavaScript), bytes
(base64) and arrays or maps of those (as Go's JSON, map keys sorted) are exact. Values
nested two levels deep (an array inside an array) are written as ``null`` inside their
JSON here; OpenTelemetry span attributes are primitives or arrays of primitives, so
only non-conforming senders reach that case.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tailsight.protowire import varint
from tailsight.storage.store import Store

# A wire-compatible subset of ExportTraceServiceRequest (see the file). Given as a file
# path: a schema given as a string is cached by the engine in ./__cache__ of the cwd.
PROTO_FILE = Path(__file__).with_name("otlp_traces.proto")

_KINDS = (
    "Enum8('none' = 0, 'string_value' = 1, 'bool_value' = 2, 'int_value' = 3,"
    " 'double_value' = 4, 'array_value' = 5, 'kvlist_value' = 6, 'bytes_value' = 7)"
)
_LEAF = (
    "Tuple(string_value String, bool_value Bool, int_value Int64, double_value Float64,"
    f" array_value String, kvlist_value String, bytes_value String, value {_KINDS})"
)
_VALUE = (
    "Tuple(string_value String, bool_value Bool, int_value Int64, double_value Float64,"
    f" array_value Tuple(values Array({_LEAF})),"
    f" kvlist_value Tuple(values Array(Tuple(key String, value {_LEAF}))),"
    f" bytes_value String, value {_KINDS})"
)
_ATTRS = f"Array(Tuple(key String, value {_VALUE}))"
STRUCTURE = (
    f"resource_spans Array(Tuple(resource Tuple(attributes {_ATTRS}),"
    " scope_spans Array(Tuple(scope Tuple(name String, version String),"
    " spans Array(Tuple(trace_id String, span_id String, trace_state String,"
    " parent_span_id String, name String, kind Int32, start_time_unix_nano UInt64,"
    f" end_time_unix_nano UInt64, attributes {_ATTRS},"
    f" events Array(Tuple(time_unix_nano UInt64, name String, attributes {_ATTRS})),"
    f" links Array(Tuple(trace_id String, span_id String, trace_state String, attributes {_ATTRS})),"
    " status Tuple(message String, code Int32)))))))"
)
# Requests whose attribute values are all scalars (nearly all of them) are read without the
# nested array/map tuples: carrying those through the ARRAY JOINs cost the engine half its
# time per span (bench/README.md). The writer picks this form after checking the requests.
_SCALAR_VALUE = (
    "Tuple(string_value String, bool_value Bool, int_value Int64, double_value Float64,"
    f" bytes_value String, value {_KINDS})"
)
SCALAR_STRUCTURE = STRUCTURE.replace(f"value {_VALUE}", f"value {_SCALAR_VALUE}")


def _double(x: str) -> str:
    # ClickHouse prints floats like JavaScript except for the sign of positive exponents.
    return (
        f"if(isFinite({x}), replaceRegexpOne(toString({x}), 'e(\\\\d)', 'e+\\\\1'),"
        f" concat('json: unsupported value: ', multiIf(isNaN({x}), 'NaN', {x} > 0, '+Inf', '-Inf')))"
    )


def _json_str(x: str) -> str:
    # Go's encoding/json: HTML characters escaped, '/' not.
    return (
        f"replaceAll(replaceAll(replaceAll(toJSONString({x}), '<', '\\\\u003c'),"
        f" '>', '\\\\u003e'), '&', '\\\\u0026')"
    )


def _scalar(v: str, nested: str) -> str:
    """The string of a value whose kind is a scalar; ``nested`` renders arrays and maps."""
    return (
        f"multiIf({v}.value = 'string_value', {v}.string_value,"
        f" {v}.value = 'int_value', toString({v}.int_value),"
        f" {v}.value = 'bool_value', if({v}.bool_value, 'true', 'false'),"
        f" {v}.value = 'double_value', {_double(v + '.double_value')},"
        f" {v}.value = 'bytes_value', base64Encode({v}.bytes_value), {nested})"
    )


def _leaf_json(v: str) -> str:
    return (
        f"multiIf({v}.value = 'string_value', {_json_str(v + '.string_value')},"
        f" {v}.value = 'int_value', toString({v}.int_value),"
        f" {v}.value = 'bool_value', if({v}.bool_value, 'true', 'false'),"
        f" {v}.value = 'double_value', if(isFinite({v}.double_value), {_double(v + '.double_value')},"
        f" {_json_str(_double(v + '.double_value'))}),"
        f" {v}.value = 'bytes_value', {_json_str('base64Encode(' + v + '.bytes_value)')}, 'null')"
    )


def _value(v: str) -> str:
    array = (
        f"concat('[', arrayStringConcat(arrayMap(e -> {_leaf_json('e')}, {v}.array_value.values),"
        " ','), ']')"
    )
    kvlist = (
        "concat('{', arrayStringConcat(arrayMap(e -> concat("
        f"{_json_str('e.key')}, ':', {_leaf_json('e.value')}),"
        f" arraySort(e -> e.key, {v}.kvlist_value.values)), ','), '}}')"
    )
    nested = (
        f"multiIf({v}.value = 'array_value', {array}, {v}.value = 'kvlist_value', {kvlist}, '')"
    )
    return _scalar(v, nested)


def _scalar_only(v: str) -> str:
    return _scalar(v, "''")


def _map(attrs: str, value: Callable[[str], str] = _value) -> str:
    return (
        f"mapFromArrays(arrayMap(a -> a.key, {attrs}), arrayMap(a -> {value('a.value')}, {attrs}))"
    )


def _hex(x: str) -> str:
    return f"if({x} = '' OR {x} = repeat(char(0), length({x})), '', lower(hex({x})))"


TRACE_COLUMNS = (
    "Timestamp, TraceId, SpanId, ParentSpanId, TraceState, SpanName, SpanKind, ServiceName,"
    " ResourceAttributes, ScopeName, ScopeVersion, SpanAttributes, Duration, StatusCode,"
    " StatusMessage, `Events.Timestamp`, `Events.Name`, `Events.Attributes`, `Links.TraceId`,"
    " `Links.SpanId`, `Links.TraceState`, `Links.Attributes`"
)


def _insert_sql(value: Callable[[str], str]) -> str:
    return f"""INSERT INTO otel_traces ({TRACE_COLUMNS})
SELECT
    fromUnixTimestamp64Nano(reinterpretAsInt64(s.start_time_unix_nano)),
    {_hex("s.trace_id")}, {_hex("s.span_id")}, {_hex("s.parent_span_id")},
    s.trace_state, s.name,
    if(s.kind BETWEEN 0 AND 5,
       ['Unspecified', 'Internal', 'Server', 'Client', 'Producer', 'Consumer'][s.kind + 1], ''),
    ra['service.name'], ra, ss.scope.name, ss.scope.version,
    {_map("s.attributes", value)},
    s.end_time_unix_nano - s.start_time_unix_nano,
    if(s.status.code BETWEEN 0 AND 2, ['Unset', 'Ok', 'Error'][s.status.code + 1], ''),
    s.status.message,
    arrayMap(e -> fromUnixTimestamp64Nano(reinterpretAsInt64(e.time_unix_nano)), s.events),
    arrayMap(e -> e.name, s.events),
    arrayMap(e -> {_map("e.attributes", value)}, s.events),
    arrayMap(l -> {_hex("l.trace_id")}, s.links),
    arrayMap(l -> {_hex("l.span_id")}, s.links),
    arrayMap(l -> l.trace_state, s.links),
    arrayMap(l -> {_map("l.attributes", value)}, s.links)
FROM (
    SELECT rs.scope_spans AS scopes, {_map("rs.resource.attributes", value)} AS ra
    FROM file({{path:String}}, 'Protobuf', {{structure:String}})
    ARRAY JOIN resource_spans AS rs
)
ARRAY JOIN scopes AS ss
ARRAY JOIN ss.spans AS s
WHERE s.trace_id != '' AND s.span_id != ''
"""


_SQL = _insert_sql(_value)
_SCALAR_SQL = _insert_sql(_scalar_only)


_NATIVE_SQL = (
    f"INSERT INTO otel_traces ({TRACE_COLUMNS}) SELECT * FROM file({{path:String}}, 'Native')"
)


def insert_traces_native(store: Store, path: Path, settings: dict[str, Any]) -> None:
    """Insert the rows of a Native block in ``path`` (:mod:`tailsight.pipeline.native_traces`).

    The block holds the columns of ``TRACE_COLUMNS`` in that order, already rendered.
    """
    store.command(_NATIVE_SQL, {"path": str(path)}, settings=settings)


_TRACE_COLUMN_NAMES = [c.strip().strip("`") for c in TRACE_COLUMNS.split(",")]


def insert_traces_native_bytes(store: Store, data: bytes, settings: dict[str, Any]) -> None:
    """Insert a Native block of ``TRACE_COLUMNS`` sent as bytes (a server store; embedded too)."""
    store.insert_native("otel_traces", _TRACE_COLUMN_NAMES, data, settings)


def write_length_delimited(path: Path, messages: Sequence[bytes | memoryview]) -> None:
    """Messages as the ``Protobuf`` format reads them: each prefixed by its length."""
    with open(path, "wb") as f:
        for m in messages:
            f.write(varint(len(m)))
            f.write(m)


def insert_traces_protobuf(
    store: Store, path: Path, settings: dict[str, Any], scalar_values: bool = False
) -> None:
    """Insert the spans of the length-delimited requests in ``path`` (embedded store only).

    ``scalar_values`` only when no attribute value in them is an array or a map (see
    :func:`~tailsight.pipeline.nested_values.has_nested_values`): such values are read as
    empty strings in that form.
    """
    all_settings = {
        "format_schema": f"{PROTO_FILE}:Request",
        "input_format_protobuf_oneof_presence": 1,
        **settings,
    }
    sql, structure = (_SCALAR_SQL, SCALAR_STRUCTURE) if scalar_values else (_SQL, STRUCTURE)
    store.command(sql, {"path": str(path), "structure": structure}, settings=all_settings)
