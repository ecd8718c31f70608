"""FastAPI, built as its docs build it, through the shared framework checks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

pytest.importorskip("fastapi")

from fastapi import FastAPI, HTTPException, WebSocket
from fastapi.responses import StreamingResponse

from asgi_obs import get_request_id

from ._checks import *  # noqa: F403 - the shared checks, collected here for this framework
from ._checks import Framework, app_log


async def _chunks(fail: bool) -> AsyncIterator[bytes]:
    yield b"a"
    if fail:
        raise RuntimeError("stream boom")
    yield b"b"


def build(logs: Any) -> FastAPI:
    app = FastAPI()

    @app.get("/ok")
    async def ok() -> dict[str, Any]:
        app_log.info("ok", extra={"user_id": 7})
        return {"request_id": get_request_id()}

    @app.get("/items/{id}")
    async def item(id: int) -> dict[str, int]:
        return {"id": id}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("boom")

    @app.get("/http503")
    async def http503() -> None:
        raise HTTPException(status_code=503, detail="unavailable")

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        return StreamingResponse(_chunks(fail=False))

    @app.get("/stream-fail")
    async def stream_fail() -> StreamingResponse:
        return StreamingResponse(_chunks(fail=True))

    @app.websocket("/ws")
    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(await websocket.receive_text())
        await websocket.receive()  # the disconnect

    return app


@pytest.fixture
def framework() -> Framework:
    from sentry_sdk.integrations.fastapi import FastApiIntegration
    from sentry_sdk.integrations.starlette import StarletteIntegration

    return Framework(
        "fastapi",
        build,
        item_route="/items/{id}",
        sentry_integrations=lambda: [StarletteIntegration(), FastApiIntegration()],
    )
