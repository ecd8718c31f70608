"""build_stack(): the documented order, the options routed to their layer, access_log=False."""

from __future__ import annotations

import os
from typing import Any

import pytest

from asgi_obs import AccessLogMiddleware, ErrorMiddleware, RequestContextMiddleware, build_stack
from asgi_obs._core import FusedStack

from .asgi import call, http_scope
from .conftest import LogCapture

pytestmark = pytest.mark.anyio


async def ok(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


NESTED = os.environ.get("ASGI_OBS_STACK") == "nested"


def _layers(stacked: Any) -> list[Any]:
    """The layers of a stack, outermost first, whichever way it was built."""
    if isinstance(stacked, FusedStack):
        return [p for p in (stacked.context, stacked.access, stacked.error) if p is not None]
    chain = []
    while isinstance(stacked, (RequestContextMiddleware, AccessLogMiddleware, ErrorMiddleware)):
        chain.append(stacked)
        stacked = stacked.app
    return chain


def test_order_outermost_first() -> None:
    """RequestContext -> AccessLog -> Error -> app: fused into one callable, or nested."""
    stacked = build_stack(ok)
    assert isinstance(stacked, RequestContextMiddleware if NESTED else FusedStack)
    context, access, error = _layers(stacked)
    assert isinstance(context, RequestContextMiddleware)
    assert isinstance(access, AccessLogMiddleware)
    assert isinstance(error, ErrorMiddleware)
    assert context.app is access and access.app is error and error.app is ok
    if not NESTED:
        assert stacked.app is ok


async def test_access_log_false(logs: LogCapture) -> None:
    """access_log=False leaves the access layer out; ids and errors still work."""
    stacked = build_stack(ok, access_log=False)
    assert [type(layer) for layer in _layers(stacked)] == [RequestContextMiddleware, ErrorMiddleware]
    result = await call(stacked, http_scope(headers=[(b"x-request-id", b"s-1")]))
    assert result.header(b"x-request-id") == [b"s-1"]
    assert logs.access() == []


def test_nested_on_request(monkeypatch: pytest.MonkeyPatch) -> None:
    """ASGI_OBS_STACK=nested builds the classes nested by hand; anything else fuses them."""
    monkeypatch.setenv("ASGI_OBS_STACK", "nested")
    assert type(build_stack(ok)) is RequestContextMiddleware
    monkeypatch.setenv("ASGI_OBS_STACK", "fused")
    assert type(build_stack(ok)) is FusedStack
    monkeypatch.delenv("ASGI_OBS_STACK")
    assert type(build_stack(ok)) is FusedStack


def test_invalid_options_fail_at_build_time() -> None:
    """Each layer validates its options when the stack is built."""
    with pytest.raises(ValueError):
        build_stack(ok, skip_paths=["no-slash"])
    with pytest.raises(ValueError):
        build_stack(ok, header="")


async def test_lifespan_and_unknown_scopes_pass_through() -> None:
    """A scope type the layers do not know reaches the app untouched."""
    seen: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope)

    scope = {"type": "lifespan", "asgi": {"version": "3.0"}}
    await build_stack(app)(scope, None, None)
    assert seen == [{"type": "lifespan", "asgi": {"version": "3.0"}}]


async def test_nested_stack_records_once(logs: LogCapture) -> None:
    """A mounted sub-app with its own build_stack: the outer stack's id everywhere, one access
    record, one error record for a failure."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Mount, Route

    from asgi_obs import get_request_id

    async def inner_endpoint(request: Request) -> PlainTextResponse:
        if request.path_params["name"] == "boom":
            raise RuntimeError("inner failure")
        return PlainTextResponse(get_request_id() or "")

    sub_app = build_stack(Starlette(routes=[Route("/{name}", inner_endpoint)]))
    app = build_stack(Starlette(routes=[Mount("/sub", app=sub_app)]))
    ok = await call(app, http_scope(path="/sub/hello", headers=[(b"x-request-id", b"outer-1")]))
    failed = await call(app, http_scope(path="/sub/boom", headers=[(b"x-request-id", b"outer-2")]))
    assert (ok.body, ok.header(b"x-request-id")) == (b"outer-1", [b"outer-1"])
    assert (failed.status, failed.header(b"x-request-id")) == (500, [b"outer-2"])
    assert [(line["request_id"], line["status"]) for line in logs.access()] == [
        ("outer-1", 200),
        ("outer-2", 500),
    ]
    assert [line["request_id"] for line in logs.errors()] == ["outer-2"]


async def test_app_messages_and_header_iterables_untouched(logs: LogCapture) -> None:
    """The id is added to a new message: an app reusing a constant start message keeps it as it
    was, and headers given as an iterator (ASGI allows any iterable) are all kept."""
    start = {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send(start)
        await send({"type": "http.response.body", "body": b"a"})

    async def iterating_app(scope: Any, receive: Any, send: Any) -> None:
        headers = iter([(b"content-type", b"text/plain"), (b"x-extra", b"1")])
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"b"})

    first = await call(build_stack(app), http_scope(headers=[(b"x-request-id", b"r-1")]))
    second = await call(build_stack(app), http_scope(headers=[(b"x-request-id", b"r-2")]))
    assert start["headers"] == [(b"content-type", b"text/plain")]
    assert (first.header(b"x-request-id"), second.header(b"x-request-id")) == ([b"r-1"], [b"r-2"])
    third = await call(build_stack(iterating_app))
    assert third.header(b"x-extra") == [b"1"]
    assert third.header(b"content-type") == [b"text/plain"]
