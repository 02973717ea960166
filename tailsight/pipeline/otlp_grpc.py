"""OTLP/gRPC receiver (port 4317): the trace, metrics and logs ``Export`` services.

Handlers take the raw request bytes (no deserializer), so a request is parsed once, by
the same code as OTLP/HTTP, and its protobuf is spooled as received. gRPC enforces the
message size limit (after decompression) itself, answering RESOURCE_EXHAUSTED.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc import aio
from starlette.routing import BaseRoute

from tailsight.pipeline.intake import Intake
from tailsight.pipeline.limits import Refused, check_token
from tailsight.pipeline.signals import SIGNALS, Signal

log = logging.getLogger(__name__)

SERVICES = {
    "traces": "opentelemetry.proto.collector.trace.v1.TraceService",
    "metrics": "opentelemetry.proto.collector.metrics.v1.MetricsService",
    "logs": "opentelemetry.proto.collector.logs.v1.LogsService",
}

STATUS_DETAILS = "grpc-status-details-bin"

Handler = Callable[[bytes, aio.ServicerContext], Awaitable[bytes]]


def _handler(intake: Intake, signal: Signal) -> Handler:
    async def export(body: bytes, context: aio.ServicerContext) -> bytes:
        try:
            if intake.token is not None:
                metadata = context.invocation_metadata() or ()
                check_token(intake.token, [v for k, v in metadata if k == "authorization"])
            return await intake.accept(signal, body, False, "grpc")
        except Refused as exc:
            if exc.retry_after is not None:
                # The OTLP retry contract over gRPC: a google.rpc.RetryInfo detail says when.
                context.set_trailing_metadata(
                    ((STATUS_DETAILS, _status_with_retry(exc).SerializeToString()),)
                )
            await context.abort(exc.code, exc.message)
            raise  # unreachable: abort raises

    return export


def _status_with_retry(exc: Refused) -> status_pb2.Status:
    detail = any_pb2.Any()
    detail.Pack(error_details_pb2.RetryInfo(retry_delay={"seconds": exc.retry_after or 1}))
    return status_pb2.Status(code=exc.code.value[0], message=exc.message, details=[detail])


class OtlpGrpcReceiver:
    """The OTLP/gRPC server, as a :class:`~tailsight.app.component.Component`."""

    name = "otlp-grpc"

    def __init__(self, intake: Intake, host: str, port: int) -> None:
        self.intake = intake
        self.host, self.port = host, port
        self._server: aio.Server | None = None

    def routes(self) -> list[BaseRoute]:
        return []

    async def start(self) -> None:
        limit = self.intake.limits.max_decompressed_bytes
        server = aio.server(
            options=[
                ("grpc.max_receive_message_length", limit),
                ("grpc.so_reuseport", 0),
                # Connections idle this long are closed (HTTP/2 GOAWAY): a flood of idle
                # clients cannot hold the process' file handles for ever.
                ("grpc.max_connection_idle_ms", 300_000),
            ]
        )
        for signal in SIGNALS:
            method = grpc.unary_unary_rpc_method_handler(_handler(self.intake, signal))
            server.add_generic_rpc_handlers(
                (grpc.method_handlers_generic_handler(SERVICES[signal.name], {"Export": method}),)
            )
        host = f"[{self.host}]" if ":" in self.host else self.host
        bound = server.add_insecure_port(f"{host}:{self.port}")
        if bound == 0:
            raise OSError(f"cannot listen on {self.host}:{self.port} for OTLP/gRPC")
        await server.start()
        self._server = server

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop(grace=2.0)
