"""A raw ASGI app (no framework) through the shared framework checks, on asyncio and trio."""

from __future__ import annotations

import json
from typing import Any

import pytest

from asgi_obs import get_request_id

from ._checks import *  # noqa: F403 - the shared checks, collected here for this framework
from ._checks import Framework, app_log


async def _send_text(send: Any, status: int, body: bytes, content_type: bytes = b"text/plain") -> None:
    await send(
        {"type": "http.response.start", "status": status, "headers": [(b"content-type", content_type)]}
    )
    await send({"type": "http.response.body", "body": body})


async def raw_app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] == "websocket":
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept"})
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            await send({"type": "websocket.send", "text": message.get("text")})
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path == "/ok":
        app_log.info("ok", extra={"user_id": 7})
        await _send_text(
            send, 200, json.dumps({"request_id": get_request_id()}).encode(), b"application/json"
        )
    elif path.startswith("/items/"):
        await _send_text(send, 200, path.encode())
    elif path == "/boom":
        raise RuntimeError("boom")
    elif path == "/http503":
        await _send_text(send, 503, b"unavailable")
    elif path in ("/stream", "/stream-fail"):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"a", "more_body": True})
        if path == "/stream-fail":
            raise RuntimeError("stream boom")
        await send({"type": "http.response.body", "body": b"b"})
    else:
        await _send_text(send, 404, b"not found")


# The raw app runs on both of anyio's backends: nothing on the request path is asyncio-only.
@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def framework() -> Framework:
    return Framework("raw", lambda logs: raw_app, item_route=None)
