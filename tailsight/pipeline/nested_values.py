"""Whether a trace request holds an attribute value that is an array or a map.

The store reads requests without such values faster (see
:data:`~tailsight.storage.otlp_protobuf.SCALAR_STRUCTURE`), so the writer asks this first.
The request is parsed with the OTLP schema minus ``AnyValue.array_value`` and
``AnyValue.kvlist_value``: those become unknown fields, which are discarded, so the
message re-encodes shorter than the body exactly when one was present. (A canonical
re-encoding is never longer than the body it came from, and dropping anything makes it
shorter; a body with other unknown fields or a non-canonical encoding also comes out
shorter: a false "yes", which only costs the slower form.) All in upb, no per-span Python.
"""

from __future__ import annotations

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

_NESTED = ("array_value", "kvlist_value")


def _probe_class() -> type[Message]:
    pool = descriptor_pool.DescriptorPool()  # a private pool: the same names, changed AnyValue
    for module in (common_pb2, resource_pb2, trace_pb2, trace_service_pb2):
        proto = descriptor_pb2.FileDescriptorProto()
        module.DESCRIPTOR.CopyToProto(proto)
        for message in proto.message_type:
            if proto.package == "opentelemetry.proto.common.v1" and message.name == "AnyValue":
                kept = [f for f in message.field if f.name not in _NESTED]
                del message.field[:]
                message.field.extend(kept)
        pool.Add(proto)
    name = trace_service_pb2.ExportTraceServiceRequest.DESCRIPTOR.full_name
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(name))


_PROBE = _probe_class()


def has_nested_values(payload: bytes | memoryview) -> bool:
    """True when some attribute value in the ``ExportTraceServiceRequest`` may be an array or map."""
    probe = _PROBE()
    try:
        probe.ParseFromString(payload)  # type: ignore[arg-type]  # upb reads any buffer
    except DecodeError:  # not ours to judge: the full form reports it as the store sees it
        return True
    probe.DiscardUnknownFields()
    return probe.ByteSize() != len(payload)
