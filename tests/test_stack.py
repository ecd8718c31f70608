"""build_stack(): the documented order, the options routed to their layer, access_log=False."""

from __future__ import annotations

from typing import Any

import pytest

from asgi_obs import AccessLogMiddleware, ErrorMiddleware, RequestContextMiddleware, build_stack

from .asgi import call, http_scope
from .conftest import LogCapture

pytestmark = pytest.mark.anyio


async def ok(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def test_order_outermost_first() -> None:
    """RequestContext -> AccessLog -> Error -> app."""
    stacked = build_stack(ok)
    assert isinstance(stacked, RequestContextMiddleware)
    assert isinstance(stacked.app, AccessLogMiddleware)
    assert isinstance(stacked.app.app, ErrorMiddleware)
    assert stacked.app.app.app is ok


async def test_access_log_false(logs: LogCapture) -> None:
    """access_log=False leaves the access layer out; ids and errors still work."""
    stacked = build_stack(ok, access_log=False)
    assert isinstance(stacked, RequestContextMiddleware)
    assert isinstance(stacked.app, ErrorMiddleware)
    result = await call(stacked, http_scope(headers=[(b"x-request-id", b"s-1")]))
    assert result.header(b"x-request-id") == [b"s-1"]
    assert logs.access() == []


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
