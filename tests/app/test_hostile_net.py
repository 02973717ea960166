"""Issue 20 through the real server: connections that never finish, floods, and the token check."""

from __future__ import annotations

import http.client
import socket
import time
from pathlib import Path

import grpc
import pytest

from tests.app.hostile_util import PROTOBUF, api_json, call, post_traces, spans, wait_written
from tests.conftest import UpProcess

pytestmark = pytest.mark.integration


def _closed_within(sock: socket.socket, seconds: float) -> float | None:
    """Seconds until the server closed ``sock``, or None if it held it past ``seconds``."""
    started = time.monotonic()
    sock.settimeout(0.2)
    while time.monotonic() - started < seconds:
        try:
            if sock.recv(4096) == b"":
                return time.monotonic() - started
        except TimeoutError:
            continue
        except OSError:
            return time.monotonic() - started
    return None


def test_idle_half_sent_and_endless_connections_are_closed(tmp_path: Path) -> None:
    env = {
        "TAILSIGHT_HTTP_HEADER_TIMEOUT_S": "1",
        "TAILSIGHT_HTTP_BODY_TIMEOUT_S": "2",
        "TAILSIGHT_HTTP_MAX_CONNECTIONS": "40",
    }
    up = UpProcess(tmp_path / "data", env=env)
    try:
        up.wait_healthy()
        for port in (up.otlp_http_port, up.api_port):
            idle = socket.create_connection(("127.0.0.1", port))
            half = socket.create_connection(("127.0.0.1", port))
            half.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Ty")
            endless = socket.create_connection(("127.0.0.1", port))
            endless.sendall(
                b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n1\r\n\n\r\n"
            )
            for sock, limit in ((idle, 5), (half, 5), (endless, 8)):
                took = _closed_within(sock, limit)
                sock.close()
                assert took is not None, (port, limit)
        # A flood past the bound: the extra connections are closed as they come.
        flood = [socket.create_connection(("127.0.0.1", up.api_port)) for _ in range(120)]
        closed = sum(_closed_within(s, 0.3) is not None for s in flood[60:])
        assert closed > 0
        # ...and once it passes, health and ingest answer as before.
        for s in flood:
            s.close()
        time.sleep(1.5)
        assert api_json(up.api + "/api/v1/health") == (200, {"status": "ok"})
        assert post_traces(up, spans(["after-flood"])) == 200
        wait_written(up, 1)
    finally:
        up.stop()
    lines = up.output().splitlines()
    assert len(lines) < 60, lines[-20:]  # a line or two about the flood, not one per connection


def _post_with(port: int, path: str, authorizations: list[str], body: bytes = b"") -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.putrequest("POST" if body else "GET", path)
        for value in authorizations:
            conn.putheader("Authorization", value)
        if body:
            conn.putheader("Content-Type", PROTOBUF)
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body or None)
        r = conn.getresponse()
        r.read()
        return r.status
    finally:
        conn.close()


def test_one_token_check_on_every_port_and_endpoint(tmp_path: Path) -> None:
    up = UpProcess(tmp_path / "data", env={"TAILSIGHT_TOKEN": "s3cret"})
    try:
        up.wait_healthy()
        assert call(up.api + "/api/v1/health")[0] == 200  # open, for orchestrators
        assert call(up.api + "/metrics")[0] == 401
        assert call(up.api + "/no/such/page")[0] == 401  # and whatever is added later
        for scheme in ("Bearer", "bearer", "BEARER"):
            assert (
                call(up.api + "/metrics", headers={"Authorization": f"{scheme} s3cret"})[0] == 200
            )
            assert api_json(up.api + "/api/v1/incidents", token=None)[0] == 401
            status, _ = call(
                up.api + "/api/v1/incidents", headers={"Authorization": f"{scheme} s3cret"}
            )
            assert status == 200
            assert (
                post_traces(up, spans([f"ok-{scheme}"]), {"Authorization": f"{scheme} s3cret"})
                == 200
            )
        # The same header twice is refused on every port, whatever order the copies come in.
        twice = (["Bearer s3cret", "Bearer wrong"], ["Bearer wrong", "Bearer s3cret"])
        body = spans(["twice"])
        for values in twice:
            assert _post_with(up.api_port, "/metrics", values) == 401
            assert _post_with(up.otlp_http_port, "/v1/traces", values, body) == 401
        channel = grpc.insecure_channel(f"127.0.0.1:{up.otlp_grpc_port}")
        export = channel.unary_unary(
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            request_serializer=lambda b: b,
            response_deserializer=lambda b: b,
        )
        export(spans(["grpc-ok"]), metadata=(("authorization", "bearer s3cret"),), timeout=30)
        for values in twice:
            with pytest.raises(grpc.RpcError) as err:
                export(body, metadata=tuple(("authorization", v) for v in values), timeout=30)
            assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
        channel.close()
        wait_written(up, 4, token="s3cret")
    finally:
        up.stop()
