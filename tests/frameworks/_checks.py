"""The checks every framework must pass, written once and collected by each framework module.

A framework module builds its app the way that framework's docs do, describes it in a
:class:`Framework` returned by its ``framework`` fixture, and does ``from ._checks import *``:
pytest then collects each ``test_*`` below once per framework module, run against that app
wrapped whole with ``build_stack``.

Every app serves the same routes (see ``ROUTES``): ``/ok`` logs INFO ``"ok"`` with
``extra={"user_id": 7}`` on ``test.fw`` and answers ``{"request_id": get_request_id()}``;
``/items/{id}``; ``/boom`` raises ``RuntimeError("boom")``; ``/http503`` is the framework's own
HTTP exception with 503 (or its 503 response where it has no such exception); ``/stream`` streams
``b"a"``, ``b"b"``; ``/stream-fail`` streams ``b"a"`` then raises ``RuntimeError("stream boom")``;
``/ws`` echoes one text frame (where the framework has WebSockets).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from asgi_obs import build_stack

from .. import sentry_support
from ..asgi import call, client, http_scope
from ..conftest import LogCapture

__all__ = [
    "Framework",
    "app_log",
    "test_404_is_a_client_error",
    "test_boom_one_error_with_traceback",
    "test_http503_one_error",
    "test_items_route_template",
    "test_ok_ids_access_and_handler_context",
    "test_sentry_one_event_per_failure",
    "test_stream_fails_after_first_chunk",
    "test_stream_succeeds",
    "test_websocket_echo",
]

#: The logger the apps' ``/ok`` route writes to.
app_log = logging.getLogger("test.fw")


@dataclass
class Framework:
    """One framework under test: how to build its app, and what it can tell."""

    name: str
    #: Builds the (unwrapped) app now, given the log capture (Litestar re-initialises logging).
    build: Callable[[LogCapture], Any]
    #: The ``route`` the access record of ``/items/5`` must carry (``None``: not exposed).
    item_route: str | None
    websocket: bool = True
    #: The framework's Sentry integrations (for the Sentry check).
    sentry_integrations: Callable[[], list[Any]] = field(default=lambda: [])

    def stack(self, logs: LogCapture) -> Any:
        return build_stack(self.build(logs))


def _errors(logs: LogCapture) -> list[dict[str, Any]]:
    """Every ERROR (or worse) line, whichever logger wrote it."""
    return [line for line in logs.lines() if line["level"] in ("ERROR", "CRITICAL")]


def _tracebacks(logs: LogCapture) -> list[dict[str, Any]]:
    """Every line carrying a traceback."""
    return [line for line in logs.lines() if "exc_info" in line]


def _one_id(response: Any) -> str:
    ids = response.headers.get_list("x-request-id")
    assert len(ids) == 1, ids
    return str(ids[0])


def _access(logs: LogCapture) -> dict[str, Any]:
    records = logs.access()
    assert len(records) == 1, records
    return records[0]


@pytest.mark.anyio
async def test_ok_ids_access_and_handler_context(framework: Framework, logs: LogCapture) -> None:
    """/ok: one X-Request-ID, get_request_id() in the handler, the app's record and one access record."""
    async with client(framework.stack(logs)) as http:
        response = await http.get("/ok")
    assert response.status_code == 200
    request_id = _one_id(response)
    assert json.loads(response.content)["request_id"] == request_id
    (mine,) = logs.records("test.fw")
    assert (mine["message"], mine["user_id"], mine["request_id"]) == ("ok", 7, request_id)
    access = _access(logs)
    assert (access["status"], access["outcome"], access["request_id"]) == (200, "success", request_id)
    assert _errors(logs) == []


@pytest.mark.anyio
async def test_items_route_template(framework: Framework, logs: LogCapture) -> None:
    """/items/5: the access record carries the route template where the framework exposes it."""
    async with client(framework.stack(logs)) as http:
        response = await http.get("/items/5")
    assert response.status_code == 200
    _one_id(response)
    access = _access(logs)
    assert (access["path"], access["route"], access["outcome"]) == (
        "/items/5",
        framework.item_route,
        "success",
    )


@pytest.mark.anyio
async def test_boom_one_error_with_traceback(framework: Framework, logs: LogCapture) -> None:
    """/boom: a 500 with one id, exactly one ERROR record (ours, with the traceback), a server_error."""
    async with client(framework.stack(logs)) as http:
        response = await http.get("/boom")
    assert response.status_code == 500
    request_id = _one_id(response)
    (error,) = _errors(logs)
    assert error["logger"] == "asgi_obs.error"
    assert error["request_id"] == request_id
    assert "RuntimeError: boom" in error["exc_info"]
    assert _tracebacks(logs) == [error]  # the traceback printed once (a chained one is one record)
    access = _access(logs)
    assert (access["status"], access["outcome"]) == (500, "server_error")


@pytest.mark.anyio
async def test_http503_one_error(framework: Framework, logs: LogCapture) -> None:
    """/http503: the framework's 503 gets through with one id, and exactly one ERROR record, ours."""
    async with client(framework.stack(logs)) as http:
        response = await http.get("/http503")
    assert response.status_code == 503
    request_id = _one_id(response)
    (error,) = _errors(logs)
    assert (error["logger"], error["status"], error["request_id"]) == ("asgi_obs.error", 503, request_id)
    access = _access(logs)
    assert (access["status"], access["outcome"]) == (503, "server_error")


@pytest.mark.anyio
async def test_404_is_a_client_error(framework: Framework, logs: LogCapture) -> None:
    """An unknown path: the framework's 404 with one id, a client_error access record, no ERROR."""
    async with client(framework.stack(logs)) as http:
        response = await http.get("/missing")
    assert response.status_code == 404
    _one_id(response)
    access = _access(logs)
    assert (access["status"], access["outcome"]) == (404, "client_error")
    assert _errors(logs) == []


@pytest.mark.anyio
async def test_stream_succeeds(framework: Framework, logs: LogCapture) -> None:
    """/stream: the whole body, one id, one success access record counting its bytes."""
    async with client(framework.stack(logs)) as http:
        response = await http.get("/stream")
    assert (response.status_code, response.content) == (200, b"ab")
    _one_id(response)
    access = _access(logs)
    assert (access["status"], access["outcome"], access["response_bytes"]) == (200, "success", 2)
    assert _errors(logs) == []


@pytest.mark.anyio
async def test_stream_fails_after_first_chunk(framework: Framework, logs: LogCapture) -> None:
    """/stream-fail: the first chunk is sent, then one ERROR with the traceback and an aborted record."""
    result = await call(framework.stack(logs), http_scope("/stream-fail"))
    assert result.status == 200
    assert len(result.header(b"x-request-id")) == 1
    assert result.body.startswith(b"a")
    (error,) = _errors(logs)
    assert error["logger"] == "asgi_obs.error"
    assert "RuntimeError: stream boom" in error["exc_info"]
    assert _tracebacks(logs) == [error]  # the traceback printed once (a chained one is one record)
    access = _access(logs)
    assert access["outcome"] == "aborted"


def _ws_scope() -> dict[str, Any]:
    scope = http_scope("/ws")
    for key in ("method", "http_version"):
        del scope[key]
    return {**scope, "type": "websocket", "scheme": "ws", "subprotocols": [], "http_version": "1.1"}


@pytest.mark.anyio
async def test_websocket_echo(framework: Framework, logs: LogCapture) -> None:
    """/ws: the handshake carries one X-Request-ID, the frame is echoed, one access record on close."""
    if not framework.websocket:
        pytest.skip(f"{framework.name} has no WebSocket support")
    incoming = [
        {"type": "websocket.connect"},
        {"type": "websocket.receive", "text": "hello"},
        {"type": "websocket.disconnect", "code": 1000},
    ]
    result = await call(framework.stack(logs), _ws_scope(), incoming=incoming)
    assert result.exc is None
    assert len(result.header(b"x-request-id")) == 1
    assert [m.get("text") for m in result.sent if m["type"] == "websocket.send"] == ["hello"]
    access = _access(logs)
    assert (access["method"], access["messages_in"], access["messages_out"]) == ("WEBSOCKET", 1, 1)
    assert _errors(logs) == []


@pytest.mark.sentry
@pytest.mark.anyio
async def test_sentry_one_event_per_failure(framework: Framework, logs: LogCapture) -> None:
    """With the framework's Sentry integration on: one event per failed request, none otherwise."""
    transport = sentry_support.MemoryTransport()
    sentry_support.init(transport, integrations=framework.sentry_integrations())
    app = framework.stack(logs)  # built after init: the integrations patch the framework
    ids: dict[str, str] = {}
    async with client(app) as http:
        for path in ("/ok", "/missing", "/boom", "/http503"):
            ids[path] = _one_id(await http.get(path))
    result = await call(app, http_scope("/stream-fail"))
    ids["/stream-fail"] = result.header(b"x-request-id")[0].decode()
    per_request = {
        path: [e for e in transport.events if (e.get("tags") or {}).get("request_id") == rid]
        for path, rid in ids.items()
    }
    counts = {path: len(events) for path, events in per_request.items()}
    assert counts == {"/ok": 0, "/missing": 0, "/boom": 1, "/http503": 1, "/stream-fail": 1}
    assert len(transport.events) == 3, [e.get("message") or e.get("logentry") for e in transport.events]
    (boom,) = per_request["/boom"]
    assert boom["exception"]["values"][-1]["value"] == "boom"
