"""outgoing_headers() / inject_headers(): the request's ids continue on outgoing calls."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from asgi_obs import build_stack, inject_headers, outgoing_headers

from .asgi import call, client, http_scope
from .conftest import LogCapture

pytestmark = pytest.mark.anyio
log = logging.getLogger("test.app")
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def test_outside_a_request_nothing() -> None:
    """Outside a request there is nothing to continue: {}."""
    assert outgoing_headers() == {}


async def test_inside_a_request(logs: LogCapture) -> None:
    """Inside: the request id and a traceparent on the request's trace with the incoming flag."""
    seen: dict[str, str] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.update(outgoing_headers())
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    headers = [(b"x-request-id", b"out-1"), (b"traceparent", f"00-{TRACE}-00f067aa0ba902b7-01".encode())]
    await call(build_stack(app), http_scope(headers=headers))
    assert seen["X-Request-ID"] == "out-1"
    version, trace_id, parent, flags = seen["traceparent"].split("-")
    assert (version, trace_id, flags) == ("00", TRACE, "01")
    assert len(parent) == 16 and parent != "00f067aa0ba902b7"  # our own span, child of the caller
    assert "sentry-trace" not in seen  # no Sentry client in this test


async def test_httpx_hook_continues_the_trace_across_two_apps(logs: LogCapture) -> None:
    """App A calls app B through httpx with inject_headers: both apps' lines share the trace id."""

    async def endpoint_b(request: Request) -> JSONResponse:
        log.info("in b")
        return JSONResponse({})

    app_b = build_stack(Starlette(routes=[Route("/b", endpoint_b)]))

    async def endpoint_a(request: Request) -> JSONResponse:
        log.info("in a")
        transport = httpx.ASGITransport(app=app_b)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://b", event_hooks={"request": [inject_headers]}
        ) as downstream:
            response = await downstream.get("/b", headers={"X-Request-ID": "explicit-wins"})
        return JSONResponse({"downstream_id": response.headers["x-request-id"]})

    app_a = build_stack(Starlette(routes=[Route("/a", endpoint_a)]))
    async with client(app_a) as http:
        response = await http.get("/a", headers={"X-Request-ID": "chain-1"})
    assert response.json() == {"downstream_id": "explicit-wins"}
    by_message = {line["message"]: line for line in logs.lines() if line["logger"] == "test.app"}
    assert by_message["in a"]["trace_id"] == by_message["in b"]["trace_id"]
    assert by_message["in a"]["request_id"] == "chain-1"


def test_sync_client_hook(logs: LogCapture) -> None:
    """The same hook works on a sync httpx.Client (its return value is ignored there)."""
    from asgi_obs.context import RequestState, state_var

    sent: list[httpx.Request] = []
    transport = httpx.MockTransport(lambda request: sent.append(request) or httpx.Response(200))
    token = state_var.set(RequestState("sync-1", TRACE, "1" * 16))
    try:
        with httpx.Client(transport=transport, event_hooks={"request": [inject_headers]}) as http:
            http.get("http://example.invalid/")
    finally:
        state_var.reset(token)
    assert sent[0].headers["x-request-id"] == "sync-1"
    assert sent[0].headers["traceparent"] == f"00-{TRACE}-{'1' * 16}-00"
