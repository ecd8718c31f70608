"""Pipelined requests on one keep-alive connection: each request keeps its own context.

uvicorn starts the next pipelined request's task inside the previous request's last ``send()``,
so that task copies whatever context the previous request had at that moment.
"""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest

from .. import sentry_support
from ..servers import Server, run_python

pytestmark = pytest.mark.server

APP = r"""
import logging, os
import sentry_sdk
import uvicorn
from asgi_obs import bind, build_stack, init_sentry, init_structured_logging, uvicorn_log_config

init_structured_logging()
init_sentry(default_integrations=False)
log = logging.getLogger("app")

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    if scope["path"] == "/a":
        bind(user_id="user-a")
        sentry_sdk.set_tag("owner", "request-a")
        sentry_sdk.set_user({"id": "user-a"})
        log.info("a handled")
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"1")]})
        await send({"type": "http.response.body", "body": b"a"})
        return
    # /b: fails mid-response, so uvicorn itself logs "Exception in ASGI application" after the
    # stack re-raised, from B's task.
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"b", "more_body": True})
    raise RuntimeError("b failed mid-response")

uvicorn.run(build_stack(app), host="127.0.0.1", port=int(os.environ["PORT"]),
            log_config=uvicorn_log_config(), http=os.environ["HTTP_IMPL"])
"""


def _pipeline(port: int, pairs: int) -> None:
    requests = b"".join(
        b"GET /a HTTP/1.1\r\nHost: t\r\nX-Request-ID: a-%d\r\n\r\n"
        b"GET /b HTTP/1.1\r\nHost: t\r\nX-Request-ID: b-%d\r\n\r\n" % (n, n)
        for n in range(pairs)
    )
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(requests)  # all in one write: the server parses B while A is answered
        deadline = time.monotonic() + 5
        with pytest.raises(OSError):  # B aborts the connection; read until it does
            while time.monotonic() < deadline:
                if not sock.recv(65536):
                    raise ConnectionResetError("closed")


def _records(server: Server) -> list[dict[str, Any]]:
    return server.json_lines()


@pytest.mark.parametrize("http_impl", ["httptools", "h11"])
def test_pipelined_request_never_logs_under_the_previous_ids(http_impl: str) -> None:
    """B's lines, the server's own included, carry B's ids; B's Sentry event has none of A's scope."""
    sink = sentry_support.EnvelopeSink()
    with sink.running(), run_python(APP, env={"SENTRY_DSN": sink.dsn, "HTTP_IMPL": http_impl}) as server:
        for _ in range(5):
            _pipeline(server.port, 1)
            request_b = "b-0"
            server.wait_for(
                lambda line, rid=request_b: f'"request_id":"{rid}"' in line and "asgi_obs.access" in line
            )
            time.sleep(0.2)  # uvicorn's own report of B comes after the stack returned
            records = _records(server)
            by_a = [r for r in records if r.get("request_id") == "a-0"]
            assert {r["logger"] for r in by_a} <= {"app", "asgi_obs.access"}, by_a
            assert all(r.get("user_id") in (None, "user-a") for r in records)
            assert not [r for r in records if r.get("user_id") == "user-a" and r.get("request_id") != "a-0"]
            tracebacks = [r for r in records if "b failed mid-response" in (r.get("exc_info") or "")]
            assert len(tracebacks) == 1 and tracebacks[0]["request_id"] == "b-0", tracebacks
            deadline = time.monotonic() + 5
            while not sink.events and time.monotonic() < deadline:
                time.sleep(0.05)
            (event,) = sink.events
            assert event["tags"]["request_id"] == "b-0"
            assert "owner" not in event["tags"], event["tags"]
            assert "user" not in event or event["user"].get("id") != "user-a"
            server.stdout.clear()
            sink.events.clear()
