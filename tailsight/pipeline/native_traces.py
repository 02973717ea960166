"""Trace requests rendered as one ClickHouse ``Native`` block by the compiled encoder.

``_otlp_native.c`` walks the protobuf wire format of the spooled requests and writes the
``otel_traces`` columns exactly as the store's SQL path renders them
(:mod:`tailsight.storage.otlp_protobuf`), so the store only reads Native and writes:
the rendering that cost the engine ~12 µs per span costs the encoder about one.
Requests it does not render (array or map attribute values, unusual encodings) and a
missing build (no C compiler where tailsight was installed) take the SQL path.

The receiver also counts the spans of a plainly well-formed request here (a third of the
cost of parsing it with upb and counting in Python); any other request is parsed by upb.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

log = logging.getLogger(__name__)

try:
    from tailsight.pipeline import _otlp_native
except ImportError as exc:  # a build without the extension still works, more slowly
    _native = None
    _missing: str | None = str(exc)
else:
    _native = _otlp_native
    _missing = None


def available() -> bool:
    """Whether the compiled encoder is installed."""
    return _native is not None


def count_spans(body: bytes) -> tuple[int, int] | None:
    """(spans, spans without ids) of a plainly well-formed trace request; None: parse it with upb.

    Answers only for requests upb surely accepts (known fields, declared wire types, valid
    UTF-8, ids of the right length), so the receiver's verdicts do not change.
    """
    return None if _native is None else _native.count_trace_spans(body)


def render_native_traces(payloads: Sequence[bytes | memoryview]) -> tuple[bytes, int] | None:
    """(Native block, rows) of serialized ``ExportTraceServiceRequest`` messages; None: not ours."""
    if _native is None:
        _say_missing()
        return None
    try:
        return _native.traces_to_native(payloads)
    except ValueError:  # not valid protobuf: the Python decoder reports it as it always did
        return None


def write_native_traces(payloads: Sequence[bytes | memoryview], path: Path) -> int | None:
    """Write the rows of serialized ``ExportTraceServiceRequest`` messages to ``path``.

    Returns the number of rows, or None (nothing written that counts) when the SQL path
    must render these requests.
    """
    if _native is None:
        _say_missing()
        return None
    try:
        return _native.write_traces_native(payloads, path)
    except ValueError:  # not valid protobuf: the store's parser reports it as it always did
        return None


def _say_missing() -> None:
    global _missing
    if _missing is not None:
        log.debug(
            "compiled trace encoder not installed (%s): spans take the slower paths", _missing
        )
        _missing = None
