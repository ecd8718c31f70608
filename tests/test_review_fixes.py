"""Defects found in review, each pinned: BaseException, bound top keys, routes, terminals, read-ahead."""

from __future__ import annotations

import asyncio
import io
import logging
from typing import Any

import pytest

from asgi_obs import bind, build_stack, init_structured_logging
from asgi_obs._response import ResponseTracker

from .asgi import call, http_scope
from .conftest import LogCapture

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("exc_type", [KeyboardInterrupt, SystemExit])
async def test_keyboard_interrupt_and_system_exit_are_never_swallowed(
    logs: LogCapture, exc_type: type
) -> None:
    """Recorded once like any failure, answered with a 500, then re-raised for the server."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise exc_type()

    result = await call(build_stack(app))
    assert isinstance(result.exc, exc_type)
    assert result.status == 500
    assert [line["message"] for line in logs.errors()] == ["Unhandled exception"]


@pytest.mark.parametrize("name", ["level", "logger", "timestamp", "message"])
def test_bind_refuses_the_lines_top_keys(name: str) -> None:
    """bind(level=...) would make an ERROR line read DEBUG: refused like the other reserved names."""
    with pytest.raises(ValueError, match=name):
        bind(**{name: "x"})


def test_extra_never_overwrites_the_top_keys() -> None:
    """extra={"level": ...} cannot turn an ERROR line into something else."""
    import json

    stream = io.StringIO()
    init_structured_logging(stream=stream)
    logging.getLogger("app").error("real", extra={"level": "DEBUG", "logger": "fake"})
    (line,) = [json.loads(text) for text in stream.getvalue().splitlines()]
    assert (line["level"], line["logger"], line["message"]) == ("ERROR", "app", "real")


async def test_a_mount_prefix_from_the_client_is_capped_in_route(logs: LogCapture) -> None:
    """A Mount("/t/{tenant}") puts the client's value in root_path: route is capped like path."""
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Mount, Route

    async def item(request: Any) -> PlainTextResponse:
        return PlainTextResponse("ok")

    app = build_stack(Starlette(routes=[Mount("/t/{tenant}", routes=[Route("/items/{id}", item)])]))
    from .asgi import client

    async with client(app) as http:
        assert (await http.get("/t/" + "A" * 5000 + "/items/1")).status_code == 200
    (line,) = logs.access()
    assert len(line["route"]) <= 2048 + len("...[truncated]")


def test_console_escapes_terminal_control_characters() -> None:
    """ESC and BEL from a client's path or user agent reach the terminal escaped, never raw."""
    stream = io.StringIO()
    init_structured_logging(stream=stream, fmt="console")
    logging.getLogger("app").info("GET /a\x1b[31m 200", extra={"ua": "x\x1b]0;t\x07"})
    text = stream.getvalue()
    assert "\x1b" not in text and "\x07" not in text
    assert "\\x1b[31m" in text and "\\x07" in text


async def test_read_ahead_never_reads_beside_a_waiting_app() -> None:
    """While the app waits in receive(), streaming does not start a second reader (no leak)."""
    calls = 0
    in_flight = 0
    peak = 0
    arrive = asyncio.Event()

    async def receive() -> dict[str, Any]:
        nonlocal calls, in_flight, peak
        calls += 1
        in_flight += 1
        peak = max(peak, in_flight)
        try:
            await arrive.wait()
            return {"type": "http.request", "body": b"late", "more_body": False}
        finally:
            in_flight -= 1

    async def send(message: dict[str, Any]) -> None:
        await asyncio.sleep(0)

    tracker = ResponseTracker(http_scope(), receive, send)
    await tracker.send({"type": "http.response.start", "status": 200, "headers": []})
    listener = asyncio.ensure_future(tracker.receive())  # the app's own disconnect listener
    await asyncio.sleep(0)  # ... already waiting for the server when the body starts to stream
    for _ in range(5):
        await tracker.send({"type": "http.response.body", "body": b"x", "more_body": True})
    arrive.set()
    assert (await listener)["body"] == b"late"
    tracker.close()
    await asyncio.sleep(0)
    assert peak == 1
    pending = [t for t in asyncio.all_tasks() if "_listen" in repr(t) and not t.done()]
    assert not pending


@pytest.mark.sentry
async def test_pipelined_request_after_an_outer_sentry_middleware_has_none_of_its_scope(
    logs: LogCapture,
) -> None:
    """Sentry's own middleware outside the stack: the next request, started inside the last send, is clean."""
    import sentry_sdk
    from sentry_sdk.integrations.asgi import SentryAsgiMiddleware

    from asgi_obs import get_request_id

    from . import sentry_support

    transport = sentry_support.MemoryTransport()
    sentry_support.init(transport, default_integrations=False)
    tasks: list[asyncio.Task[None]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["path"] == "/a":
            sentry_sdk.set_user({"id": "alice"})
            sentry_sdk.set_tag("tenant", "A")
        else:
            sentry_sdk.capture_message(f"B {get_request_id()}")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    stack = SentryAsgiMiddleware(build_stack(app))

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send_b(message: dict[str, Any]) -> None:
        return None

    async def send_a(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":  # like uvicorn: B starts inside A's last send
            tasks.append(asyncio.get_running_loop().create_task(stack(http_scope("/b"), receive, send_b)))

    await stack(http_scope("/a"), receive, send_a)
    await tasks[0]
    (event,) = transport.events
    assert "tenant" not in event.get("tags", {})
    assert event.get("user", {}).get("id") != "alice"
