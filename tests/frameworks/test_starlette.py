"""Starlette, built as its docs build it, through the shared framework checks, on asyncio and trio."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

pytest.importorskip("starlette")

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from asgi_obs import get_request_id

from ._checks import *  # noqa: F403 - the shared checks, collected here for this framework
from ._checks import Framework, app_log


async def ok(request: Request) -> JSONResponse:
    app_log.info("ok", extra={"user_id": 7})
    return JSONResponse({"request_id": get_request_id()})


async def item(request: Request) -> PlainTextResponse:
    return PlainTextResponse(str(request.path_params["id"]))


async def boom(request: Request) -> PlainTextResponse:
    raise RuntimeError("boom")


async def http503(request: Request) -> PlainTextResponse:
    raise HTTPException(status_code=503)


async def _chunks(fail: bool) -> AsyncIterator[bytes]:
    yield b"a"
    if fail:
        raise RuntimeError("stream boom")
    yield b"b"


async def stream(request: Request) -> StreamingResponse:
    return StreamingResponse(_chunks(fail=False))


async def stream_fail(request: Request) -> StreamingResponse:
    return StreamingResponse(_chunks(fail=True))


async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text(await websocket.receive_text())
    await websocket.receive()  # the disconnect


def build(logs: Any) -> Starlette:
    return Starlette(
        routes=[
            Route("/ok", ok),
            Route("/items/{id}", item),
            Route("/boom", boom),
            Route("/http503", http503),
            Route("/stream", stream),
            Route("/stream-fail", stream_fail),
            WebSocketRoute("/ws", echo),
        ]
    )


# Starlette runs on both of anyio's backends: nothing on the request path is asyncio-only.
@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def framework() -> Framework:
    from sentry_sdk.integrations.starlette import StarletteIntegration

    return Framework(
        "starlette", build, item_route="/items/{id}", sentry_integrations=lambda: [StarletteIntegration()]
    )
