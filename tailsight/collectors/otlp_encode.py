"""OTLP metric export requests written straight to protobuf bytes, for the agent's exports.

The SDK's encoder (``encode_metrics``) builds a protobuf object for every data point,
attribute and value: ~10 µs a point, half of the agent's CPU at a node's ~330 points a
second (``bench/agent.py``). A node's series keep their attribute sets from one cycle to
the next, so here each attribute set is encoded once and cached, and a data point is one
``struct`` pack. The result parses to the same ``ExportMetricsServiceRequest`` as the
SDK's (tested field by field); what this encoder does not handle (histograms, exemplars,
array or map attribute values) returns ``None`` and the caller uses the SDK's encoder.

Wire format: https://protobuf.dev/programming-guides/encoding/ ; field numbers from
``opentelemetry/proto/metrics/v1/metrics.proto``.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import Any

from tailsight.protowire import varint

# NumberDataPoint: start_time_unix_nano = 2 (fixed64), time_unix_nano = 3 (fixed64),
# as_double = 4 (double), as_int = 6 (sfixed64), attributes = 7 (KeyValue).
_SUM_DOUBLE = struct.Struct("<BQBQBd")
_SUM_INT = struct.Struct("<BQBQBq")
_GAUGE_DOUBLE = struct.Struct("<BQBd")
_GAUGE_INT = struct.Struct("<BQBq")
_DOUBLE = struct.Struct("<d")
_ATTR_CACHE_MAX = 50_000  # attribute sets; pids come and go, so the cache is cleared past this


def _field(tag: int, payload: bytes) -> bytes:
    """A length-delimited field; ``tag`` is the whole key byte (field number < 16)."""
    return bytes((tag,)) + varint(len(payload)) + payload


def _any_value(value: Any) -> bytes | None:
    # AnyValue: string 1, bool 2, int 3, double 4; oneof members are written even when zero.
    if isinstance(value, bool):
        return b"\x10\x01" if value else b"\x10\x00"
    if isinstance(value, str):
        return _field(0x0A, value.encode("utf-8"))
    if isinstance(value, int):
        if not -(2**63) <= value < 2**63:
            return None
        return b"\x18" + varint(value & 0xFFFFFFFFFFFFFFFF)
    if isinstance(value, float):
        return b"\x21" + _DOUBLE.pack(value)
    return None  # bytes, arrays, maps: the SDK's encoder handles them


def encode_attributes(attributes: Mapping[str, Any] | None, tag: int) -> bytes | None:
    """Each attribute as a ``KeyValue`` field ``tag``; ``None`` if a value is not a scalar."""
    out = bytearray()
    for key, value in (attributes or {}).items():
        encoded = _any_value(value)
        if encoded is None:
            return None
        out += _field(tag, _field(0x0A, str(key).encode("utf-8")) + _field(0x12, encoded))
    return bytes(out)


class MetricsEncoder:
    """Encodes the SDK's ``MetricsData`` of gauges and sums; keeps encoded attribute sets."""

    def __init__(self) -> None:
        from opentelemetry.sdk.metrics.export import Gauge, Sum

        self._gauge, self._sum = Gauge, Sum
        self._attrs: dict[tuple[tuple[str, Any], ...], tuple[bytes, bytes]] = {}
        self._metric_heads: dict[tuple[str, str, str], bytes] = {}

    def _heads(self, attributes: Mapping[str, Any] | None) -> tuple[bytes, bytes] | None:
        """A data point's opening bytes — field key, length, attributes — for a gauge and a sum.

        Every point's body after its attributes has a fixed size (times and an 8-byte value),
        so the whole opening is cached per attribute set; ``None``: not ours to encode.
        """
        key = tuple(attributes.items()) if attributes else ()
        try:
            cached = self._attrs.get(key)
        except TypeError:  # an unhashable (array) value: not cached, and not ours to encode
            return None
        if cached is None:
            encoded = encode_attributes(attributes, 0x3A)
            if encoded is None:
                return None
            if len(self._attrs) >= _ATTR_CACHE_MAX:
                self._attrs.clear()
            cached = self._attrs[key] = (
                b"\x0a" + varint(len(encoded) + _GAUGE_DOUBLE.size) + encoded,
                b"\x0a" + varint(len(encoded) + _SUM_DOUBLE.size) + encoded,
            )
        return cached

    def _metric(self, metric: Any) -> bytes | None:
        data = metric.data
        is_sum = isinstance(data, self._sum)
        if not is_sum and not isinstance(data, self._gauge):
            return None
        points = bytearray()
        heads = self._heads
        for dp in data.data_points:
            head = heads(dp.attributes)
            if head is None or dp.exemplars:
                return None
            value = dp.value
            as_int = isinstance(value, int)
            if is_sum:  # cumulative: the start time too
                points += head[1]
                pack = (_SUM_INT if as_int else _SUM_DOUBLE).pack
                t = dp.time_unix_nano
                points += pack(
                    0x11, dp.start_time_unix_nano, 0x19, t, 0x31 if as_int else 0x21, value
                )
            else:
                points += head[0]
                pack = (_GAUGE_INT if as_int else _GAUGE_DOUBLE).pack
                points += pack(0x19, dp.time_unix_nano, 0x31 if as_int else 0x21, value)
        if is_sum:
            # Sum: aggregation_temporality = 2, is_monotonic = 3 (zero values omitted).
            if data.aggregation_temporality:
                points += b"\x10" + varint(int(data.aggregation_temporality))
            if data.is_monotonic:
                points += b"\x18\x01"
        tag = 0x3A if is_sum else 0x2A  # Metric.sum = 7, Metric.gauge = 5
        names = (metric.name, metric.description, metric.unit)
        opening = self._metric_heads.get(names)
        if opening is None:
            opening = _field(0x0A, metric.name.encode("utf-8"))
            if metric.description:
                opening += _field(0x12, metric.description.encode("utf-8"))
            if metric.unit:
                opening += _field(0x1A, metric.unit.encode("utf-8"))
            if len(self._metric_heads) < _ATTR_CACHE_MAX:
                self._metric_heads[names] = opening
        return opening + _field(tag, bytes(points))

    def encode(self, data: Any) -> bytes | None:
        """``ExportMetricsServiceRequest`` bytes for ``data``, or ``None`` (use the SDK's encoder)."""
        # Resource metrics with the same resource are one entry, as in the SDK's encoder.
        by_resource: dict[Any, bytearray] = {}
        for rm in data.resource_metrics:
            body = by_resource.setdefault(rm.resource, bytearray())
            for sm in rm.scope_metrics:
                scope = sm.scope
                scope_body = bytearray()
                if scope is not None:
                    attrs = encode_attributes(scope.attributes, 0x1A)
                    if attrs is None:
                        return None
                    if scope.name:
                        scope_body += _field(0x0A, scope.name.encode("utf-8"))
                    if scope.version:
                        scope_body += _field(0x12, scope.version.encode("utf-8"))
                    scope_body += attrs
                out = bytearray(_field(0x0A, bytes(scope_body)))  # ScopeMetrics.scope = 1
                for metric in sm.metrics:
                    encoded = self._metric(metric)
                    if encoded is None:
                        return None
                    out += _field(0x12, encoded)  # ScopeMetrics.metrics = 2
                schema = scope.schema_url if scope is not None else ""
                if schema:
                    out += _field(0x1A, schema.encode("utf-8"))
                body += _field(0x12, bytes(out))  # ResourceMetrics.scope_metrics = 2
        request = bytearray()
        for resource, scopes in by_resource.items():
            attrs = encode_attributes(resource.attributes, 0x0A)
            if attrs is None:
                return None
            entry = _field(0x0A, attrs) + bytes(scopes)  # ResourceMetrics.resource = 1
            if resource.schema_url:
                entry += _field(0x1A, resource.schema_url.encode("utf-8"))
            request += _field(0x0A, entry)  # ExportMetricsServiceRequest.resource_metrics = 1
        return bytes(request)


def fast_exporter(grpc: bool, **options: Any) -> Any:
    """The SDK's OTLP metric exporter (gRPC or HTTP) encoding its requests with :class:`MetricsEncoder`.

    Everything else — transport, retries, timeouts, compression, headers — is the SDK's.
    ``fast_path_taken`` counts the exports that used this encoder (tests check it, so an
    SDK release that moves the hooks overridden here fails a test instead of going slow).
    """
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
        ExportMetricsServiceRequest as Request,
    )

    encoder = MetricsEncoder()
    if grpc:
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
            OTLPMetricExporter as Grpc,
        )

        class FastGrpc(Grpc):
            fast_path_taken = 0

            def _translate_data(self, data: Any) -> Any:
                encoded = encoder.encode(data)
                if encoded is None:
                    return super()._translate_data(data)
                self.fast_path_taken += 1
                return Request.FromString(encoded)

        return FastGrpc(**options)

    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as Http

    class FastHttp(Http):
        fast_path_taken = 0

        def export(
            self, metrics_data: Any, timeout_millis: float | None = 10_000, **kwargs: Any
        ) -> Any:
            if not self._shutdown and self._max_export_batch_size is None:
                encoded = encoder.encode(metrics_data)
                if encoded is not None:
                    self.fast_path_taken += 1
                    return self._export_batch(Request.FromString(encoded))
            return super().export(metrics_data, timeout_millis, **kwargs)

    return FastHttp(**options)
