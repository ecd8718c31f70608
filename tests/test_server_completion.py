"""Real servers deciding how a response ended: uvicorn's silent resets, hypercorn's trio cancels."""

from __future__ import annotations

import http.client
import socket
import struct
import time

import pytest

from . import sentry_support
from .servers import Server, run_python

pytestmark = pytest.mark.server

STREAM_APP = r"""
import asyncio, os
import uvicorn
from asgi_obs import build_stack, init_structured_logging, uvicorn_log_config

init_structured_logging()
CHUNK = b"x" * 1000

async def app(scope, receive, send):
    # A raw app that never calls receive(): only the stack can notice the client leaving.
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    for _ in range(200):
        await send({"type": "http.response.body", "body": CHUNK, "more_body": True})
        await asyncio.sleep(0.005)
    await send({"type": "http.response.body", "body": b""})

uvicorn.run(build_stack(app), host="127.0.0.1", port=int(os.environ["PORT"]), log_config=uvicorn_log_config())
"""


def _reset_mid_stream(port: int, request_id: str) -> None:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(f"GET /stream HTTP/1.1\r\nHost: t\r\nX-Request-ID: {request_id}\r\n\r\n".encode())
    received = b""
    while len(received) < 5000:
        received += sock.recv(4096)
    # SO_LINGER 0: close() sends a TCP reset, the way a killed client or a proxy timeout does.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def _access(server: Server, request_id: str) -> dict[str, object]:
    server.wait_for(lambda line: f'"request_id":"{request_id}"' in line and "asgi_obs.access" in line)
    (line,) = [
        rec
        for rec in server.json_lines()
        if rec["logger"] == "asgi_obs.access" and rec["request_id"] == request_id
    ]
    return line


def test_a_client_reset_mid_stream_under_uvicorn_is_a_disconnect() -> None:
    """uvicorn ignores sends after a reset: the record is still 499/disconnect with the bytes sent."""
    with run_python(STREAM_APP) as server:
        for attempt in range(5):
            request_id = f"reset-{attempt}"
            _reset_mid_stream(server.port, request_id)
            record = _access(server, request_id)
            assert record["status"] == 499, record
            assert record["outcome"] == "disconnect"
            assert 5000 <= int(record["response_bytes"]) < 200_000  # type: ignore[call-overload]


TRIO_APP = r"""
import os, trio
from hypercorn.config import Config
from hypercorn.trio import serve
from asgi_obs import build_stack, init_sentry, init_structured_logging

init_structured_logging()
init_sentry(default_integrations=False)

async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    status = 503 if scope["path"] == "/http503" else 200
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})

config = Config()
config.bind = [f"127.0.0.1:{os.environ['PORT']}"]
config.accesslog = None
trio.run(serve, build_stack(app), config)
"""


def test_hypercorn_trio_complete_responses_are_complete() -> None:
    """hypercorn on trio cancels the final send: a complete 200 is success, a 503 gets its event."""
    sink = sentry_support.EnvelopeSink()
    with sink.running(), run_python(TRIO_APP, env={"SENTRY_DSN": sink.dsn}) as server:
        for path, request_id in (("/ok", "trio-ok"), ("/http503", "trio-503")):
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
            conn.request("GET", path, headers={"X-Request-ID": request_id})
            response = conn.getresponse()
            assert response.read() == b"ok"
            assert response.getheader("x-request-id") == request_id
            conn.close()
        ok = _access(server, "trio-ok")
        assert (ok["status"], ok["outcome"]) == (200, "success")
        failed = _access(server, "trio-503")
        assert (failed["status"], failed["outcome"]) == (503, "server_error")
        deadline = time.monotonic() + 10
        while not sink.events and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # a second, duplicate event would arrive about now
        assert [event["tags"]["request_id"] for event in sink.events] == ["trio-503"]
