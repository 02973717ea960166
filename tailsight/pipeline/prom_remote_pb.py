"""Prometheus remote-write 1.0 messages (``prometheus.WriteRequest``), built at import.

The messages are those of prometheus/prometheus ``prompb/remote.proto`` and
``prompb/types.proto`` (Apache-2.0), the subset a version-1 sender fills: ``WriteRequest``
(``timeseries`` = 1, ``metadata`` = 3), ``TimeSeries`` (``labels`` = 1, ``samples`` = 2,
``exemplars`` = 3), ``Label``, ``Sample``, ``Exemplar`` and ``MetricMetadata``. Native
histograms (``TimeSeries.histograms`` = 4) are not declared: protobuf keeps them as
unknown fields, and the receiver counts and skips them.

Why a descriptor built here rather than a generated ``_pb2``: generated code is tied to
the protoc that wrote it and the protobuf runtime that reads it; a descriptor assembled
with ``descriptor_pb2`` works with any runtime this package accepts and still parses
in upb (C), at the same speed as generated classes.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_F = descriptor_pb2.FieldDescriptorProto

# (message, [(field, number, type, label, type_name)])
_MESSAGES: list[tuple[str, list[tuple[str, int, int, int, str]]]] = [
    ("Label", [("name", 1, _F.TYPE_STRING, _F.LABEL_OPTIONAL, ""),
               ("value", 2, _F.TYPE_STRING, _F.LABEL_OPTIONAL, "")]),
    ("Sample", [("value", 1, _F.TYPE_DOUBLE, _F.LABEL_OPTIONAL, ""),
                ("timestamp", 2, _F.TYPE_INT64, _F.LABEL_OPTIONAL, "")]),
    ("Exemplar", [("labels", 1, _F.TYPE_MESSAGE, _F.LABEL_REPEATED, ".prometheus.Label"),
                  ("value", 2, _F.TYPE_DOUBLE, _F.LABEL_OPTIONAL, ""),
                  ("timestamp", 3, _F.TYPE_INT64, _F.LABEL_OPTIONAL, "")]),
    ("TimeSeries", [("labels", 1, _F.TYPE_MESSAGE, _F.LABEL_REPEATED, ".prometheus.Label"),
                    ("samples", 2, _F.TYPE_MESSAGE, _F.LABEL_REPEATED, ".prometheus.Sample"),
                    ("exemplars", 3, _F.TYPE_MESSAGE, _F.LABEL_REPEATED,
                     ".prometheus.Exemplar")]),
    ("MetricMetadata", [("type", 1, _F.TYPE_ENUM, _F.LABEL_OPTIONAL,
                         ".prometheus.MetricMetadata.MetricType"),
                        ("metric_family_name", 2, _F.TYPE_STRING, _F.LABEL_OPTIONAL, ""),
                        ("help", 4, _F.TYPE_STRING, _F.LABEL_OPTIONAL, ""),
                        ("unit", 5, _F.TYPE_STRING, _F.LABEL_OPTIONAL, "")]),
    ("WriteRequest", [("timeseries", 1, _F.TYPE_MESSAGE, _F.LABEL_REPEATED,
                       ".prometheus.TimeSeries"),
                      ("metadata", 3, _F.TYPE_MESSAGE, _F.LABEL_REPEATED,
                       ".prometheus.MetricMetadata")]),
]  # fmt: skip

# MetricMetadata.MetricType, by number: what each means to the receiver.
METRIC_TYPES = (
    "unknown", "counter", "gauge", "histogram", "gaugehistogram", "summary", "info", "stateset",
)  # fmt: skip


def _build() -> dict[str, Any]:
    file = descriptor_pb2.FileDescriptorProto(
        name="tailsight/prometheus_remote.proto", package="prometheus", syntax="proto3"
    )
    for name, fields in _MESSAGES:
        msg = file.message_type.add(name=name)
        for fname, number, ftype, label, type_name in fields:
            field = msg.field.add(name=fname, number=number, type=ftype, label=label)
            if type_name:
                field.type_name = type_name
        if name == "MetricMetadata":
            enum = msg.enum_type.add(name="MetricType")
            for number, kind in enumerate(METRIC_TYPES):
                enum.value.add(name=kind.upper(), number=number)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"prometheus.{name}"))
        for name, _ in _MESSAGES
    }


_CLASSES = _build()
WriteRequest: Any = _CLASSES["WriteRequest"]
TimeSeries: Any = _CLASSES["TimeSeries"]
MetricMetadata: Any = _CLASSES["MetricMetadata"]
