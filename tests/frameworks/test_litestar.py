"""Litestar, built as its docs build it (its default logging config included), through the shared checks.

``Litestar()`` applies its own ``dictConfig`` when the app is built, replacing the root
handler: the recipe is to call ``init_structured_logging()`` after building the app.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

pytest.importorskip("litestar")

from litestar import Litestar, Request, get, websocket_listener
from litestar.exceptions import HTTPException
from litestar.response import Stream

from asgi_obs import get_request_id, init_structured_logging

from ._checks import *  # noqa: F403 - the shared checks, collected here for this framework
from ._checks import Framework, app_log


@get("/ok")
async def ok() -> dict[str, Any]:
    app_log.info("ok", extra={"user_id": 7})
    return {"request_id": get_request_id()}


@get("/items/{id:int}")
async def item(request: Request[Any, Any, Any]) -> dict[str, int]:
    return {"id": request.path_params["id"]}


@get("/boom")
async def boom() -> None:
    raise RuntimeError("boom")


@get("/http503")
async def http503() -> None:
    raise HTTPException(status_code=503, detail="unavailable")


async def _chunks(fail: bool) -> AsyncIterator[bytes]:
    yield b"a"
    if fail:
        raise RuntimeError("stream boom")
    yield b"b"


@get("/stream")
async def stream() -> Stream:
    return Stream(_chunks(fail=False))


@get("/stream-fail")
async def stream_fail() -> Stream:
    return Stream(_chunks(fail=True))


@websocket_listener("/ws")
async def echo(data: str) -> str:
    return data


HANDLERS = [ok, item, boom, http503, stream, stream_fail, echo]


def build(logs: Any) -> Litestar:
    app = Litestar(route_handlers=HANDLERS)  # defaults: its LoggingConfig replaces the root handler
    init_structured_logging("INFO", stream=logs.stream)  # the recipe: after the app is built
    return app


@pytest.fixture
def framework() -> Framework:
    from sentry_sdk.integrations.litestar import LitestarIntegration

    return Framework("litestar", build, item_route="/items/{id}", sentry_integrations=lambda: [LitestarIntegration()])
