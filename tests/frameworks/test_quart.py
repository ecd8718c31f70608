"""Quart, built as its docs build it, through the shared framework checks.

Quart logs an unhandled exception itself (``app.logger``, named after the app, ``"Exception on
request GET /boom"``) and sends its 500 outside the ``except`` block: that record is absorbed
into the error layer's one record, which carries its traceback.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

pytest.importorskip("quart")

from quart import Quart, abort, websocket

from asgi_obs import get_request_id

from ._checks import *  # noqa: F403 - the shared checks, collected here for this framework
from ._checks import Framework, app_log


def build(logs: Any) -> Quart:
    app = Quart(__name__)

    @app.route("/ok")
    async def ok() -> dict[str, Any]:
        app_log.info("ok", extra={"user_id": 7})
        return {"request_id": get_request_id()}

    @app.route("/items/<int:id>")
    async def item(id: int) -> dict[str, int]:
        return {"id": id}

    @app.route("/boom")
    async def boom() -> None:
        raise RuntimeError("boom")

    @app.route("/http503")
    async def http503() -> None:
        abort(503)

    async def chunks(fail: bool) -> AsyncIterator[bytes]:
        yield b"a"
        if fail:
            raise RuntimeError("stream boom")
        yield b"b"

    @app.route("/stream")
    async def stream() -> Any:
        return chunks(fail=False), 200

    @app.route("/stream-fail")
    async def stream_fail() -> Any:
        return chunks(fail=True), 200

    @app.websocket("/ws")
    async def echo() -> None:
        await websocket.send(await websocket.receive())

    return app


@pytest.fixture
def framework() -> Framework:
    from sentry_sdk.integrations.quart import QuartIntegration

    return Framework("quart", build, item_route=None, sentry_integrations=lambda: [QuartIntegration()])
