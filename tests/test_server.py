"""Real uvicorn on 127.0.0.1: one traceback per failure in stdout, ids never cross requests."""

from __future__ import annotations

import http.client

import pytest

from .servers import run_python

pytestmark = pytest.mark.server

APP = r"""
import logging, os
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, StreamingResponse
from starlette.routing import Route
from asgi_obs import build_stack, init_structured_logging, uvicorn_log_config

init_structured_logging()
log = logging.getLogger("app")

async def before(request):
    raise RuntimeError("failed before the response")

async def after(request):
    async def chunks():
        yield b"partial"
        raise RuntimeError("failed after the response started")
    return StreamingResponse(chunks())

async def echo(request):
    body = await request.body()
    log.info("echo", extra={"size": len(body), "marker": request.headers.get("x-marker")})
    return PlainTextResponse(str(len(body)))

app = build_stack(Starlette(routes=[
    Route("/before", before), Route("/after", after), Route("/echo", echo, methods=["GET", "POST"]),
]))
uvicorn.run(app, host="127.0.0.1", port=int(os.environ["PORT"]), log_config=uvicorn_log_config())
"""


def test_failures_print_one_traceback_each() -> None:
    """Raising before and after the response started: each traceback once, all lines JSON."""
    with run_python(APP) as server:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        conn.request("GET", "/before")
        response = conn.getresponse()
        assert response.status == 500
        assert response.getheader("x-request-id")
        assert response.read() == b"Internal Server Error"
        conn.close()

        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        conn.request("GET", "/after", headers={"X-Request-ID": "after-1"})
        response = conn.getresponse()
        assert response.status == 200
        with pytest.raises(http.client.IncompleteRead):
            response.read()  # the server aborted the connection: truncated, not complete
        conn.close()
        server.wait_for(lambda line: '"GET /after 200"' in line)
    lines = server.json_lines()
    output = "\n".join(server.stdout + server.stderr)
    assert output.count("Traceback (most recent call last)") == 2
    assert "Exception in ASGI application" not in output
    errors = [line for line in lines if line["logger"] == "asgi_obs.error"]
    # Starlette sends its own 500 from inside its except block: reported at that moment.
    assert [line["message"] for line in errors] == [
        "Server error response",
        "Exception after the response started",
    ]
    assert errors[0]["error_message"] == "failed before the response"
    assert errors[1]["request_id"] == "after-1"
    outcomes = [
        (line["path"], line["status"], line["outcome"])
        for line in lines
        if line["logger"] == "asgi_obs.access"
    ]
    assert outcomes == [("/before", 500, "server_error"), ("/after", 200, "aborted")]


def test_keep_alive_requests_do_not_share_ids() -> None:
    """Two requests on one connection, the second with a >64 KiB body: ids never leak."""
    with run_python(APP) as server:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        conn.request("GET", "/echo", headers={"X-Marker": "first"})
        first = conn.getresponse()
        first_id = first.getheader("x-request-id")
        assert first.read() == b"0"
        big = b"x" * (70 * 1024)
        conn.request("POST", "/echo", body=big, headers={"X-Marker": "second"})
        second = conn.getresponse()
        second_id = second.getheader("x-request-id")
        assert second.read() == str(len(big)).encode()
        conn.close()
        server.wait_for(lambda line: '"POST /echo 200"' in line)
    assert first_id and second_id and first_id != second_id
    lines = server.json_lines()
    echo = {line["marker"]: line for line in lines if line["logger"] == "app"}
    assert echo["first"]["request_id"] == first_id
    assert echo["second"]["request_id"] == second_id
    second_lines = [line for line in lines if line.get("request_id") == second_id]
    assert {line["logger"] for line in second_lines} == {"app", "asgi_obs.access"}
    access = [line for line in lines if line["logger"] == "asgi_obs.access"]
    assert [(line["request_id"], line["request_bytes"]) for line in access] == [
        (first_id, 0),
        (second_id, len(big)),
    ]
