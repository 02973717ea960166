"""OTLP values as the OpenTelemetry Collector's ClickHouse exporter writes them.

The exporter stores every attribute value as a string (``pcommon.Value.AsString``):
strings as they are, booleans ``true``/``false``, integers in decimal, doubles the way
JavaScript prints numbers, bytes in base64, arrays and maps as JSON. Trace and span ids
are lowercase hex, and the empty string when the id is all zeros.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Iterable
from decimal import Decimal

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

_ZERO16 = bytes(16)
_ZERO8 = bytes(8)


def hex_id(raw: bytes) -> str:
    """A trace or span id as the exporter writes it: hex, or ``''`` when unset or all zeros."""
    if not raw or raw == _ZERO16 or raw == _ZERO8:
        return ""
    return raw.hex()


def format_double(value: float) -> str:
    """A float the way Go's pcommon (and JavaScript) prints it: ``1``, ``0.5``, ``1e-7``, ``1e+21``."""
    if math.isnan(value) or math.isinf(value):
        go = "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")
        return f"json: unsupported value: {go}"
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude < 1e-6 or magnitude >= 1e21:
        mantissa, _, exponent = repr(value).partition("e")
        if not exponent:  # repr chose positional notation; force the exponent form
            mantissa, _, exponent = f"{value:e}".partition("e")
            mantissa = repr(float(mantissa))
        mantissa = mantissa.removesuffix(".0")
        exp = int(exponent)
        return f"{mantissa}e{'+' if exp >= 0 else '-'}{abs(exp)}"
    text = repr(value)
    if "e" in text:  # repr uses exponents outside 1e-4..1e16; Go prints positional digits
        text = format(Decimal(text), "f")
    return text.removesuffix(".0")


_HTML = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)


def _json_str(text: str) -> str:
    # Go's encoding/json escapes HTML characters and the JS line separators.
    return json.dumps(text, ensure_ascii=False).translate(_HTML)


def value_json(value: AnyValue) -> str:
    """An AnyValue as the JSON Go's pcommon writes for arrays and maps (map keys sorted)."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return _json_str(value.string_value)
    if kind == "int_value":
        return str(value.int_value)
    if kind == "bool_value":
        return "true" if value.bool_value else "false"
    if kind == "double_value":
        d = value.double_value
        return format_double(d) if math.isfinite(d) else _json_str(format_double(d))
    if kind == "bytes_value":
        return _json_str(base64.b64encode(value.bytes_value).decode())
    if kind == "array_value":
        return "[" + ",".join(value_json(v) for v in value.array_value.values) + "]"
    if kind == "kvlist_value":
        items = {kv.key: kv.value for kv in value.kvlist_value.values}
        return "{" + ",".join(f"{_json_str(k)}:{value_json(items[k])}" for k in sorted(items)) + "}"
    return "null"


def value_str(value: AnyValue) -> str:
    """``pcommon.Value.AsString`` of one AnyValue."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "int_value":
        return str(value.int_value)
    if kind == "bool_value":
        return "true" if value.bool_value else "false"
    if kind == "double_value":
        return format_double(value.double_value)
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    if kind in ("array_value", "kvlist_value"):
        return value_json(value)
    return ""


def attr_map(attributes: Iterable[KeyValue]) -> dict[str, str]:
    """Attributes as the exporter's ``Map(String, String)``; later duplicates of a key win."""
    out: dict[str, str] = {}
    for kv in attributes:
        v = kv.value
        kind = v.WhichOneof("value")
        if kind == "string_value":
            out[kv.key] = v.string_value
        elif kind == "int_value":
            out[kv.key] = str(v.int_value)
        elif kind == "bool_value":
            out[kv.key] = "true" if v.bool_value else "false"
        else:
            out[kv.key] = value_str(v)
    return out
