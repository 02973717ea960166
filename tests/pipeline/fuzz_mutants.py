"""Hostile OTLP bodies for the intake-to-store fuzz suite, drawn from a seeded ``random.Random``.

Each mutant is (signal, body, is_json, gzip): a valid request with one of the audit's
classes of trouble built in: a known field sent with another wire type, unknown groups,
an AnyValue with two oneof members, an attribute key of the wrong wire type, times at
every boundary (0, the 2106 and 2^63 edges, ends before starts, spans on many days),
lone surrogates in JSON, multi-member gzip and trailing bytes, and plain byte damage.
"""

from __future__ import annotations

import gzip
import json
import math
import os
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass

from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from tailsight.pipeline.signals import SIGNALS, Signal
from tailsight.protowire import varint

SIGNAL = {s.name: s for s in SIGNALS}
NOW = time.time_ns() - 3600 * 10**9
DAY = 86400 * 10**9
EDGE_2106 = (1 << 32) * 10**9
TIMES = [
    0, 1, NOW, NOW + 100 * 365 * DAY, EDGE_2106 - 1, EDGE_2106, EDGE_2106 + 1,
    (1 << 63) - 1, 1 << 63, (1 << 64) - 1, NOW - 40 * DAY,
]  # fmt: skip


@dataclass(frozen=True)
class Mutant:
    signal: Signal
    body: bytes
    is_json: bool = False
    gzipped: bool = False


def _field(num: int, wt: int, payload: bytes = b"") -> bytes:
    tag = varint(num << 3 | wt)
    if wt == 2:
        return tag + varint(len(payload)) + payload
    if wt == 3:
        return tag + payload + varint(num << 3 | 4)
    return tag + payload


def _fixed64(value: int) -> bytes:
    return (value % (1 << 64)).to_bytes(8, "little")


def _wrong_wire(rng: random.Random, max_num: int) -> bytes:
    """A known (or unknown) field number with any wire type and a fitting payload."""
    num = rng.randint(1, max_num + 2)
    wt = rng.choice((0, 1, 2, 3, 5))
    payload = {
        0: varint(rng.choice((0, 1, 300, (1 << 64) - 1))),
        1: rng.randbytes(8),
        2: rng.randbytes(rng.randint(0, 9)),
        3: _field(rng.randint(1, 20), 0, b"\x01"),  # a group holding a varint
        5: rng.randbytes(4),
    }[wt]
    return _field(num, wt, payload)


def _any_value(rng: random.Random) -> bytes:
    """An AnyValue, sometimes with two (or three) oneof members set."""
    members = [
        _field(1, 2, b"s" * rng.randint(0, 3)),
        _field(2, 0, b"\x01"),
        _field(3, 0, varint(rng.choice((0, 5, (1 << 64) - 1)))),
        _field(4, 1, rng.randbytes(8)),
        _field(7, 2, rng.randbytes(rng.randint(0, 4))),
        _field(5, 2, _field(1, 2, _field(1, 2, b"x"))),  # array_value [ "x" ]
        _field(6, 2, _field(1, 2, _field(1, 2, b"k") + _field(2, 2, _field(3, 0, b"\x07")))),
    ]
    return b"".join(rng.sample(members, rng.randint(1, 3)))


def _key_value(rng: random.Random) -> bytes:
    how = rng.randrange(4)
    if how == 0:  # the key with another wire type
        wt = rng.choice((0, 1, 5))
        key = _field(1, wt, {0: varint(7), 1: rng.randbytes(8), 5: rng.randbytes(4)}[wt])
        return key + _field(2, 2, _any_value(rng))
    if how == 1:
        return _field(1, 2, b"k") + _field(2, 2, _any_value(rng))
    if how == 2:
        return _field(1, 2, b"k") + _field(2, 2, _any_value(rng)) + _wrong_wire(rng, 2)
    return _field(1, 2, b"dup") + _field(1, 2, b"dup2") + _field(2, 2, _any_value(rng))


def _span(rng: random.Random, start: int, end: int) -> bytes:
    parts = [
        _field(1, 2, os.urandom(16)),
        _field(2, 2, os.urandom(8)),
        _field(5, 2, b"span"),
        _field(7, 1, _fixed64(start)),
        _field(8, 1, _fixed64(end)),
    ]
    for _ in range(rng.randint(0, 3)):
        parts.append(_field(9, 2, _key_value(rng)))
    if rng.random() < 0.3:
        ev_time = rng.choice(TIMES) if rng.random() < 0.3 else start
        parts.append(_field(11, 2, _field(1, 1, _fixed64(ev_time)) + _field(2, 2, b"e")))
    if rng.random() < 0.5:
        parts.append(_wrong_wire(rng, 16))
    if rng.random() < 0.2:
        parts.append(_field(rng.randint(17, 200), 3, _field(1, 2, b"in a group")))
    rng.shuffle(parts[2:])
    return b"".join(parts)


def _trace_body(rng: random.Random) -> bytes:
    spans = []
    days = rng.random() < 0.1
    for i in range(rng.randint(1, 6)):
        if days:  # spans on many days: partitions
            start = NOW - rng.randint(0, 200) * DAY if rng.random() < 0.5 else NOW + i * 7 * DAY
            end = start + 10**6
        else:
            start = rng.choice(TIMES) if rng.random() < 0.08 else NOW + rng.randint(0, 10**12)
            ends = (start + 10**6, start - 10**6 if start >= 10**6 else 0, rng.choice(TIMES))
            end = rng.choices(ends, (8, 2, 1))[0]
        spans.append(_field(2, 2, _span(rng, start, end)))
    scope = _field(
        1, 2, _field(1, 2, b"scope") + (_wrong_wire(rng, 4) if rng.random() < 0.2 else b"")
    )
    resource = _field(1, 2, _field(1, 2, _key_value(rng)))
    scope_spans = _field(2, 2, scope + b"".join(spans))
    return _field(1, 2, resource + scope_spans)


def _metric_body(rng: random.Random) -> bytes:
    req = ExportMetricsServiceRequest()
    sm = req.resource_metrics.add().scope_metrics.add()
    kind = rng.choice(("gauge", "sum", "histogram", "exponential_histogram", "summary"))
    metric = sm.metrics.add(name="m")
    data = getattr(metric, kind)
    for _ in range(rng.randint(1, 4)):
        dp = data.data_points.add(
            time_unix_nano=rng.choice(TIMES) if rng.random() < 0.4 else NOW,
            start_time_unix_nano=rng.choice(TIMES) if rng.random() < 0.2 else 0,
        )
        dp.attributes.add(
            key="a", value=AnyValue(double_value=rng.choice((math.nan, math.inf, 1.5)))
        )
        if kind in ("gauge", "sum"):
            dp.as_double = rng.choice((math.nan, -math.inf, 1e308, 0.0))
            if rng.random() < 0.3:
                dp.exemplars.add(time_unix_nano=rng.choice(TIMES), as_int=-(1 << 63))
        elif kind == "histogram":
            dp.count = (1 << 64) - 1
            dp.bucket_counts.extend([1, 2, 3])
            dp.explicit_bounds.extend([math.nan] * rng.randint(0, 5))
        elif kind == "exponential_histogram":
            dp.scale = rng.choice((-(1 << 31), 20, (1 << 31) - 1))
            dp.positive.offset = -(1 << 31)
            dp.positive.bucket_counts.extend([1, (1 << 64) - 1])
        else:
            dp.quantile_values.add(quantile=math.nan, value=-1.0)
    body = req.SerializeToString()
    if rng.random() < 0.3:  # an unknown or wrong-typed field inside the data point's metric
        body += _field(1, 2, _field(2, 2, _field(2, 2, _wrong_wire(rng, 12))))
    return body


def _log_body(rng: random.Random) -> bytes:
    req = ExportLogsServiceRequest()
    sl = req.resource_logs.add().scope_logs.add()
    for _ in range(rng.randint(1, 4)):
        sl.log_records.add(
            time_unix_nano=rng.choice(TIMES) if rng.random() < 0.4 else NOW,
            observed_time_unix_nano=rng.choice(TIMES) if rng.random() < 0.3 else 0,
            severity_number=rng.choice((0, 9, -5, 1 << 30)),  # type: ignore[arg-type]
            body=AnyValue(string_value="x"),
            trace_id=rng.choice((b"", os.urandom(16), os.urandom(5))),
            flags=rng.choice((0, (1 << 32) - 1)),
        )
    body = req.SerializeToString()
    if rng.random() < 0.3:
        body += _field(1, 2, _field(2, 2, _field(2, 2, _wrong_wire(rng, 13))))
    return body


def _json(rng: random.Random, signal: Signal, body: bytes) -> bytes | None:
    msg = signal.request()
    try:
        msg.ParseFromString(body)
    except Exception:  # noqa: BLE001 - not every mutant is valid protobuf
        return None
    tree = json_format.MessageToDict(msg)
    text = json.dumps(tree)
    if rng.random() < 0.5:  # a lone surrogate as a key or in a value
        text = (
            text.replace('"', '"\\ud800', 1)
            if rng.random() < 0.5
            else text[:-1] + ', "\\udfff": 1}'
        )
    return text.encode()


def _gzip(rng: random.Random, body: bytes) -> bytes:
    cut = rng.randint(0, len(body))
    how = rng.randrange(3)
    if how == 0:  # two members
        return gzip.compress(body[:cut]) + gzip.compress(body[cut:])
    if how == 1:  # trailing bytes after the member
        return gzip.compress(body) + rng.randbytes(rng.randint(1, 8))
    return gzip.compress(body)


def _damaged(rng: random.Random, body: bytes) -> bytes:
    b = bytearray(body)
    if not b:
        return bytes(b)
    for _ in range(rng.randint(1, 3)):
        i = rng.randrange(len(b))
        b[i] = rng.randrange(256)
    return bytes(b)


def mutants(count: int, seed: int = 20) -> Iterator[Mutant]:
    """``count`` hostile bodies, the same ones for the same seed."""
    rng = random.Random(seed)
    makers = {"traces": _trace_body, "metrics": _metric_body, "logs": _log_body}
    for _ in range(count):
        name = rng.choices(("traces", "metrics", "logs"), (6, 2, 2))[0]
        signal = SIGNAL[name]
        body = makers[name](rng)
        roll = rng.random()
        if roll < 0.1:
            body = _damaged(rng, body)
        if roll > 0.85:
            text = _json(rng, signal, body)
            if text is not None:
                yield Mutant(signal, text, is_json=True)
                continue
        if 0.75 < roll <= 0.85:
            yield Mutant(signal, _gzip(rng, body), gzipped=True)
            continue
        yield Mutant(signal, body)
