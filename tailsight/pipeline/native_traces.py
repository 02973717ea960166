"""Trace requests rendered as one ClickHouse ``Native`` block by the compiled encoder.

``_otlp_native.c`` walks the protobuf wire format of the spooled requests and writes the
``otel_traces`` columns exactly as the store's SQL path renders them
(:mod:`tailsight.storage.otlp_protobuf`), so the store only reads Native and writes:
the rendering that cost the engine ~12 µs per span costs the encoder well under one.
Requests it does not render (array or map attribute values, unusual encodings) and a
missing build (no C compiler where tailsight was installed) take the SQL path.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

log = logging.getLogger(__name__)

_Encode = Callable[[Sequence[bytes]], "tuple[bytes, int] | None"]
_encode: _Encode | None
try:
    from tailsight.pipeline._otlp_native import traces_to_native as _encode
except ImportError as exc:  # a build without the extension still works, more slowly
    _encode = None
    _missing: str | None = str(exc)
else:
    _missing = None


@dataclass(frozen=True)
class NativeBlock:
    """The ``otel_traces`` rows of some trace requests, as one block in ClickHouse's Native format."""

    data: bytes
    rows: int


def available() -> bool:
    """Whether the compiled encoder is installed."""
    return _encode is not None


def render_traces(payloads: Sequence[bytes]) -> NativeBlock | None:
    """The rows of serialized ``ExportTraceServiceRequest`` messages; None: the SQL path renders them."""
    global _missing
    if _encode is None:
        if _missing is not None:
            log.debug(
                "compiled trace encoder not installed (%s): spans take the SQL path", _missing
            )
            _missing = None
        return None
    try:
        out = _encode(payloads)
    except ValueError:  # not valid protobuf: the store's parser reports it as it always did
        return None
    return None if out is None else NativeBlock(*out)
