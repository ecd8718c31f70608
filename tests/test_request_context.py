"""RequestContextMiddleware: ids in, ids out, context variables set and always reset."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import random
import re
import sys
from typing import Any

import pytest
from asgi_lifespan import LifespanManager
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from asgi_obs import RequestContextMiddleware, bind, build_stack, get_request_id, get_trace_id
from asgi_obs.context import state_var

from .asgi import call, client, http_scope
from .conftest import LogCapture

pytestmark = pytest.mark.anyio
log = logging.getLogger("test.app")
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = "00f067aa0ba902b7"
HEX32 = re.compile("^[0-9a-f]{32}$")


async def ids_app(scope: Any, receive: Any, send: Any) -> None:
    """Raw app answering with the ids it sees, logging one line."""
    if scope["type"] == "lifespan":
        return
    log.info("inside", extra={"marker": "ids_app"})
    body = f"{get_request_id()} {get_trace_id()} {scope['state']['request_id']}".encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"x-request-id", b"app-set")]})
    await send({"type": "http.response.body", "body": body})


async def test_incoming_valid_id_kept(logs: LogCapture) -> None:
    """A valid X-Request-ID is used, echoed once (set, not appended) and mirrored to scope state."""
    async with client(build_stack(ids_app)) as http:
        response = await http.get("/", headers={"X-Request-ID": "abc-123"})
    assert response.headers.get_list("x-request-id") == ["abc-123"]
    request_id, trace_id, mirrored = response.text.split()
    assert request_id == mirrored == "abc-123"
    assert HEX32.match(trace_id)
    (line,) = [line for line in logs.lines() if line.get("marker") == "ids_app"]
    assert (line["request_id"], line["trace_id"]) == ("abc-123", trace_id)


async def test_any_header_name_carries_the_id_even_user_agent(logs: LogCapture) -> None:
    """header= may name any header, User-Agent included (which the access record also reads)."""
    stack = build_stack(ids_app, header="User-Agent")
    result = await call(stack, http_scope(headers=[(b"user-agent", b"agent-007")]))
    assert result.header(b"user-agent") == [b"agent-007"]
    assert result.body.split()[0] == b"agent-007"
    (access,) = logs.access()
    assert access["request_id"] == "agent-007" and access["user_agent"] == "agent-007"


# Values that must be replaced, never echoed or logged: empty, too long, control characters,
# quotes, braces, spaces, non-ASCII (sent as raw latin-1 bytes).
BAD_IDS = [b"", b"x" * 129, b"evil\nline", b'a"b', b"{inj}", b"a b", b"caf\xe9", b"\xff\xfe"]


@pytest.mark.parametrize("raw", BAD_IDS, ids=lambda raw: repr(raw)[:20])
async def test_invalid_id_replaced_and_never_output(logs: LogCapture, raw: bytes) -> None:
    """An invalid X-Request-ID is replaced by a generated id and appears in no output line."""
    scope = http_scope(headers=[(b"host", b"t"), (b"x-request-id", raw)])
    result = await call(build_stack(ids_app), scope)
    (echoed,) = result.header(b"x-request-id")
    assert re.fullmatch(rb"[0-9a-f]{32}", echoed)
    text = logs.raw
    assert logs.lines()  # something was logged, and all of it parsed
    if raw:
        assert raw.decode("latin-1") not in text
        assert raw.decode("latin-1").encode("unicode_escape").decode() not in text


async def test_two_id_headers_are_not_trusted(logs: LogCapture) -> None:
    """Two X-Request-ID headers are ambiguous: a new id is generated."""
    scope = http_scope(headers=[(b"x-request-id", b"first"), (b"x-request-id", b"second")])
    result = await call(build_stack(ids_app), scope)
    (echoed,) = result.header(b"x-request-id")
    assert echoed not in (b"first", b"second")


# Where the trace id comes from: sentry-trace first, then traceparent, else generated.
@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ([(b"traceparent", f"00-{TRACE}-{SPAN}-01".encode())], TRACE),
        ([(b"sentry-trace", f"{TRACE}-{SPAN}-1".encode())], TRACE),
        (
            [
                (b"sentry-trace", f"{'1' * 32}-{SPAN}".encode()),
                (b"traceparent", f"00-{TRACE}-{SPAN}-01".encode()),
            ],
            "1" * 32,
        ),
        ([(b"sentry-trace", b"garbage"), (b"traceparent", f"00-{TRACE}-{SPAN}-01".encode())], TRACE),
        ([(b"traceparent", f"00-{'0' * 32}-{SPAN}-01".encode())], None),
        ([(b"traceparent", f"00-{TRACE}-{'0' * 16}-01".encode())], None),
        ([(b"traceparent", b"00-zz-01")], None),
        ([(b"sentry-trace", b"not-a-trace")], None),
    ],
)
async def test_trace_id_sources(
    logs: LogCapture, headers: list[tuple[bytes, bytes]], expected: str | None
) -> None:
    """Valid trace headers are continued; invalid ones give a fresh trace id (never the raw value)."""
    result = await call(build_stack(ids_app), http_scope(headers=headers))
    trace_id = result.body.split()[1].decode()
    assert HEX32.match(trace_id)
    if expected is None:
        assert trace_id not in (TRACE, "0" * 32)
        assert "zz" not in logs.raw and "not-a-trace" not in logs.raw
    else:
        assert trace_id == expected


async def test_variables_reset_after_request(logs: LogCapture) -> None:
    """After the request the context variables are back to None in the caller's task."""
    async with client(build_stack(ids_app)) as http:
        await http.get("/")
        assert (get_request_id(), get_trace_id(), state_var.get()) == (None, None, None)

    async def failing(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("boom")

    await call(RequestContextMiddleware(failing))
    assert (get_request_id(), get_trace_id(), state_var.get()) == (None, None, None)


async def test_trust_incoming_false_keeps_client_value_as_field(logs: LogCapture) -> None:
    """trust_incoming=False always generates, and logs the client's valid id as client_request_id."""
    app = build_stack(ids_app, trust_incoming=False)
    result = await call(app, http_scope(headers=[(b"x-request-id", b"client-1")]))
    (echoed,) = result.header(b"x-request-id")
    assert echoed != b"client-1"
    (line,) = [line for line in logs.lines() if line.get("marker") == "ids_app"]
    assert line["client_request_id"] == "client-1"
    assert line["request_id"] == echoed.decode()


async def test_custom_header_generator_and_validator(logs: LogCapture) -> None:
    """The header name, generator and validator are pluggable; a bad generator is refused early."""
    counter = iter(range(1000))
    app = RequestContextMiddleware(
        ids_app,
        header="X-Correlation-ID",
        generator=lambda: f"gen-{next(counter)}",
        validator=lambda value: value.startswith("ok-"),
    )
    kept = await call(app, http_scope(headers=[(b"x-correlation-id", b"ok-1")]))
    replaced = await call(app, http_scope(headers=[(b"x-correlation-id", b"nope")]))
    assert kept.header(b"x-correlation-id") == [b"ok-1"]
    assert replaced.header(b"x-correlation-id")[0].startswith(b"gen-")
    with pytest.raises(ValueError, match="generator"):
        RequestContextMiddleware(ids_app, generator=lambda: "bad value")
    with pytest.raises(ValueError, match="header"):
        RequestContextMiddleware(ids_app, header="Bad Header")


async def test_lifespan_passes_through(logs: LogCapture) -> None:
    """Startup and shutdown run untouched through the whole stack (asgi-lifespan)."""
    events: list[str] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> Any:
        events.append("startup")
        yield {"db": "connected"}
        events.append("shutdown")

    async def endpoint(request: Request) -> PlainTextResponse:
        return PlainTextResponse(request.state.db)

    inner = Starlette(routes=[Route("/", endpoint)], lifespan=lifespan)
    async with LifespanManager(build_stack(inner)) as manager, client(manager.app) as http:
        response = await http.get("/")
    assert response.text == "connected"
    assert events == ["startup", "shutdown"]


async def test_websocket_accept_carries_the_id(logs: LogCapture) -> None:
    """websocket.accept gets X-Request-ID in its headers."""

    async def ws_app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept", "headers": [(b"x-extra", b"1")]})
        await send({"type": "websocket.close", "code": 1000})

    scope = {**http_scope(path="/ws", headers=[(b"x-request-id", b"ws-1")]), "type": "websocket"}
    result = await call(build_stack(ws_app), scope, incoming=[{"type": "websocket.connect"}])
    assert result.header(b"x-request-id") == [b"ws-1"]
    assert result.header(b"x-extra") == [b"1"]


async def test_app_gets_a_send_that_says_it_is_async(logs: LogCapture) -> None:
    """Used alone, the layer hands the app a send iscoroutinefunction() accepts (asgiref asks)."""
    checks: list[bool] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if sys.version_info >= (3, 12):
            checks.append(inspect.iscoroutinefunction(send))
        else:
            checks.append(asyncio.iscoroutinefunction(send))
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    result = await call(RequestContextMiddleware(app), http_scope())
    assert result.status == 204
    assert result.header(b"x-request-id")
    assert checks == [True]


async def test_concurrent_requests_never_mix_ids(logs: LogCapture) -> None:
    """200 concurrent requests with random awaits: each line carries its own request's id."""

    async def endpoint(request: Request) -> PlainTextResponse:
        marker = request.headers["x-request-id"]
        for step in range(3):
            await asyncio.sleep(random.random() / 200)
            log.info("step", extra={"marker": marker, "step": step})
        return PlainTextResponse(marker)

    app = build_stack(Starlette(routes=[Route("/", endpoint)]))
    async with client(app) as http:
        responses = await asyncio.gather(
            *(http.get("/", headers={"X-Request-ID": f"req-{i}"}) for i in range(200))
        )
    assert [r.text for r in responses] == [f"req-{i}" for i in range(200)]
    steps = [line for line in logs.lines() if line["message"] == "step"]
    assert len(steps) == 600
    assert all(line["request_id"] == line["marker"] for line in steps)
    assert {line["request_id"] for line in logs.access()} == {f"req-{i}" for i in range(200)}


async def test_context_reaches_threadpool_tasks_and_background(logs: LogCapture) -> None:
    """A sync endpoint (threadpool), a create_task child and a BackgroundTask all see the ids;
    bind() from the threadpool reaches the access record."""
    spawned: list[asyncio.Task[None]] = []

    def sync_endpoint(request: Request) -> JSONResponse:
        bind(user_id=42)
        log.info("from threadpool")
        return JSONResponse({"id": get_request_id()}, background=BackgroundTask(background))

    async def background() -> None:
        log.info("from background")

    async def async_endpoint(request: Request) -> JSONResponse:
        async def child() -> None:
            await asyncio.sleep(0)
            log.info("from task")

        spawned.append(asyncio.create_task(child()))
        return JSONResponse({"id": get_request_id()})

    app = build_stack(Starlette(routes=[Route("/sync", sync_endpoint), Route("/task", async_endpoint)]))
    async with client(app) as http:
        sync_response = await http.get("/sync", headers={"X-Request-ID": "sync-1"})
        task_response = await http.get("/task", headers={"X-Request-ID": "task-1"})
        await asyncio.gather(*spawned)
    assert sync_response.json() == {"id": "sync-1"}
    assert task_response.json() == {"id": "task-1"}
    by_message = {line["message"]: line for line in logs.lines()}
    assert by_message["from threadpool"]["request_id"] == "sync-1"
    assert by_message["from threadpool"]["user_id"] == 42
    assert by_message["from background"]["request_id"] == "sync-1"
    assert by_message["from task"]["request_id"] == "task-1"
    (sync_access,) = [line for line in logs.access() if line["path"] == "/sync"]
    assert sync_access["user_id"] == 42
