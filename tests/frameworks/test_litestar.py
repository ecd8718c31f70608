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

    return Framework(
        "litestar", build, item_route="/items/{id}", sentry_integrations=lambda: [LitestarIntegration()]
    )


@pytest.mark.anyio
async def test_defaults_built_after_init_are_reported_once(
    logs: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Litestar() built after init_structured_logging() replaces our handler: stderr says so, once."""
    from asgi_obs import _root_check, build_stack

    from ..asgi import client

    monkeypatch.setattr(_root_check, "_told", False)
    app = Litestar(route_handlers=HANDLERS)  # the wrong order: after init_structured_logging()
    for _ in range(2):  # two stacks, two requests each: still one message
        async with client(build_stack(app)) as http:
            assert (await http.get("/ok")).status_code == 200
            assert (await http.get("/ok")).status_code == 200
    err = capsys.readouterr().err
    assert err.count("asgi_obs: the root logger's handler was replaced") == 1
    # Litestar's queue handler: its own class before Python 3.12, logging.handlers.QueueHandler since.
    assert "QueueHandler" in err or "QueueListenerHandler" in err
    assert "init_structured_logging() after the app is built" in err
    assert logs.lines() == []  # what the message is about: no JSON line reached our handler


@pytest.mark.anyio
async def test_recipe_after_build_says_nothing(
    logs: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The recipe (init_structured_logging() after Litestar()) gives JSON lines and no message."""
    from asgi_obs import _root_check, build_stack

    from ..asgi import client

    monkeypatch.setattr(_root_check, "_told", False)
    async with client(build_stack(build(logs))) as http:
        assert (await http.get("/ok")).status_code == 200
    assert "asgi_obs:" not in capsys.readouterr().err
    assert [line["logger"] for line in logs.lines()] == ["test.fw", "asgi_obs.access"]


@pytest.mark.anyio
async def test_logging_config_none_keeps_our_handler(
    logs: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Litestar(logging_config=None), in any order: our handler stays, no message."""
    from asgi_obs import _root_check, build_stack

    from ..asgi import client

    monkeypatch.setattr(_root_check, "_told", False)
    async with client(build_stack(Litestar(route_handlers=HANDLERS, logging_config=None))) as http:
        assert (await http.get("/boom")).status_code == 500
    assert "asgi_obs:" not in capsys.readouterr().err
    assert [line["logger"] for line in logs.lines()] == ["asgi_obs.error", "asgi_obs.access"]
