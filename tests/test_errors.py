"""ErrorMiddleware and the DESIGN §6 table: what the client sees, what is logged, exactly once."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, StreamingResponse
from starlette.routing import Route

from asgi_obs import ErrorMiddleware, build_stack

from .asgi import call, http_scope
from .conftest import LogCapture

pytestmark = pytest.mark.anyio
log = logging.getLogger("test.app")


# --- a raw ASGI app with one path per table row -------------------------------------------


async def raw_app(scope: Any, receive: Any, send: Any) -> None:
    path = scope["path"]
    if path == "/raise":
        raise RuntimeError("before start")
    if path == "/after-start":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"part", "more_body": True})
        raise RuntimeError("mid stream")
    if path == "/after-complete":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"done"})
        raise RuntimeError("background job")
    if path == "/own-500":
        try:
            raise KeyError("handled by the framework")
        except KeyError:
            await send({"type": "http.response.start", "status": 500, "headers": []})
            await send({"type": "http.response.body", "body": b"framework 500"})
            raise
    status = {"/503": 503, "/404": 404}.get(path, 200)
    await send({"type": "http.response.start", "status": status, "headers": []})
    await send({"type": "http.response.body", "body": b"x"})


# --- the same rows in Starlette -----------------------------------------------------------


async def boom(request: Request) -> PlainTextResponse:
    raise RuntimeError("before start")


def sync_boom(request: Request) -> PlainTextResponse:
    raise RuntimeError("sync before start")


async def http_503(request: Request) -> PlainTextResponse:
    raise HTTPException(503)


async def http_404(request: Request) -> PlainTextResponse:
    raise HTTPException(404)


async def returned_503(request: Request) -> JSONResponse:
    return JSONResponse({"ok": False}, status_code=503)


async def stream_fail(request: Request) -> StreamingResponse:
    async def chunks() -> Any:
        yield b"part"
        raise RuntimeError("mid stream")

    return StreamingResponse(chunks())


async def background_fail(request: Request) -> PlainTextResponse:
    def job() -> None:
        raise RuntimeError("background job")

    return PlainTextResponse("done", background=BackgroundTask(job))


async def logged_then_raised(request: Request) -> PlainTextResponse:
    try:
        raise ValueError("logged by the app")
    except ValueError:
        log.exception("app saw it first")
        raise


def starlette_app() -> Starlette:
    return Starlette(
        routes=[
            Route("/raise", boom),
            Route("/sync-raise", sync_boom),
            Route("/503", http_503),
            Route("/404", http_404),
            Route("/returned-503", returned_503),
            Route("/after-start", stream_fail),
            Route("/after-complete", background_fail),
            Route("/logged", logged_then_raised),
        ]
    )


# path, status seen, error records, traceback in it, outcome, access level, propagates
ROWS = {
    "raw": [
        ("/raise", 500, 1, True, "server_error", "WARNING", False),
        ("/503", 503, 1, False, "server_error", "WARNING", False),
        ("/404", 404, 0, False, "client_error", "INFO", False),
        ("/after-start", 200, 1, True, "aborted", "WARNING", True),
        ("/after-complete", 200, 1, True, "success", "INFO", False),
        ("/own-500", 500, 1, True, "server_error", "WARNING", False),
    ],
    "starlette": [
        ("/raise", 500, 1, True, "server_error", "WARNING", False),
        ("/sync-raise", 500, 1, True, "server_error", "WARNING", False),
        ("/503", 503, 1, True, "server_error", "WARNING", False),
        ("/returned-503", 503, 1, False, "server_error", "WARNING", False),
        ("/404", 404, 0, False, "client_error", "INFO", False),
        ("/after-start", 200, 1, True, "aborted", "WARNING", True),
        ("/after-complete", 200, 1, True, "success", "INFO", False),
    ],
}


@pytest.mark.parametrize(
    ("kind", "path", "status", "errors", "traceback", "outcome", "level", "propagates"),
    [(kind, *row) for kind, rows in ROWS.items() for row in rows],
)
async def test_design_table(
    logs: LogCapture,
    kind: str,
    path: str,
    status: int,
    errors: int,
    traceback: bool,
    outcome: str,
    level: str,
    propagates: bool,
) -> None:
    """Each row: the status sent, X-Request-ID on it, error records, traceback, access outcome."""
    inner = raw_app if kind == "raw" else starlette_app()
    result = await call(build_stack(inner), http_scope(path=path, headers=[(b"x-request-id", b"row-1")]))
    assert result.status == status
    assert result.header(b"x-request-id") == [b"row-1"]
    assert (result.exc is not None) is propagates
    error_lines = logs.errors()
    assert len(error_lines) == errors, error_lines
    for line in error_lines:
        assert line["request_id"] == "row-1"
        assert line["level"] == "ERROR"
        assert ("exc_info" in line) is traceback
    tracebacks = logs.raw.count("Traceback (most recent call last)")
    assert tracebacks == (1 if traceback else 0)
    (access,) = logs.access()
    assert (access["outcome"], access["status"], access["level"]) == (outcome, status, level)


async def test_500_body_plain_and_problem_json(logs: LogCapture) -> None:
    """The 500 is plain text by default, problem+json carrying the request id on request."""
    plain = await call(build_stack(raw_app), http_scope(path="/raise"))
    assert plain.body == b"Internal Server Error"
    assert plain.header(b"content-type") == [b"text/plain; charset=utf-8"]
    problem = await call(
        build_stack(raw_app, problem_json=True),
        http_scope(path="/raise", headers=[(b"x-request-id", b"p-1")]),
    )
    assert problem.header(b"content-type") == [b"application/problem+json"]
    assert json.loads(problem.body) == {
        "type": "about:blank",
        "title": "Internal Server Error",
        "status": 500,
        "request_id": "p-1",
    }


async def test_traceback_logged_by_app_is_not_repeated(logs: LogCapture) -> None:
    """logger.exception() then re-raise: the error record comes without a second traceback."""
    result = await call(build_stack(starlette_app()), http_scope(path="/logged"))
    assert result.status == 500
    assert logs.raw.count("Traceback (most recent call last)") == 1
    (error,) = logs.errors()
    assert "exc_info" not in error
    assert error["error_type"] == "ValueError"
    assert error["traceback_logged"] == "earlier in this request"


async def test_disconnect_and_cancel_are_not_errors(logs: LogCapture) -> None:
    """A client that leaves mid-stream gives 499 'disconnect' and no error record."""

    async def endless(request: Request) -> StreamingResponse:
        async def chunks() -> Any:
            while True:
                yield b"tick"
                await asyncio.sleep(0.001)

        return StreamingResponse(chunks())

    app = build_stack(Starlette(routes=[Route("/stream", endless)]))
    result = await call(app, http_scope(path="/stream"), disconnect_after_start=True)
    assert result.exc is None
    assert logs.errors() == []
    (access,) = logs.access()
    assert (access["status"], access["outcome"], access["level"]) == (499, "disconnect", "INFO")


async def test_cancelled_error_propagates_without_records(logs: LogCapture) -> None:
    """CancelledError is re-raised (cancellation must work) and is not an error."""

    async def cancelled(scope: Any, receive: Any, send: Any) -> None:
        raise asyncio.CancelledError

    result = await call(build_stack(cancelled))
    assert isinstance(result.exc, asyncio.CancelledError)
    assert logs.errors() == []
    (access,) = logs.access()
    assert (access["status"], access["outcome"]) == (499, "disconnect")


async def test_app_returning_without_response(logs: LogCapture) -> None:
    """No response at all: one error record and a 500; half a response: aborted and re-raised."""

    async def silent(scope: Any, receive: Any, send: Any) -> None:
        return

    async def half(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"x", "more_body": True})

    silent_result = await call(build_stack(silent))
    assert silent_result.status == 500
    half_result = await call(build_stack(half))
    assert half_result.exc is not None
    messages = [line["message"] for line in logs.errors()]
    assert messages == [
        "App returned without starting a response",
        "App returned without completing the response",
    ]
    assert [line["outcome"] for line in logs.access()] == ["server_error", "aborted"]


async def test_websocket_failure_closes_with_1011(logs: LogCapture) -> None:
    """A WebSocket handler that raises: one error record, close code 1011, not re-raised."""

    async def ws_fail(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        raise RuntimeError("ws broke")

    scope = {**http_scope(path="/ws"), "type": "websocket"}
    result = await call(build_stack(ws_fail), scope, incoming=[{"type": "websocket.connect"}])
    assert result.exc is None
    assert result.sent[-1] == {"type": "websocket.close", "code": 1011}
    (error,) = logs.errors()
    assert "ws broke" in error["exc_info"]
    (access,) = logs.access()
    assert (access["status"], access["outcome"], access["close_code"]) == (101, "server_error", 1011)


async def test_options_validated_eagerly() -> None:
    """Invalid options fail at construction with ValueError."""
    with pytest.raises(ValueError):
        ErrorMiddleware(raw_app, problem_json="yes")  # type: ignore[arg-type]


async def test_client_gone_before_the_body_is_read(logs: LogCapture) -> None:
    """Starlette turns a ClientDisconnect from request.body() into its own 500: still a
    disconnect (499, no error record), not a server failure."""

    async def upload(request: Request) -> PlainTextResponse:
        return PlainTextResponse(str(len(await request.body())))

    app = build_stack(Starlette(routes=[Route("/upload", upload, methods=["POST"])]))
    result = await call(
        app, http_scope(path="/upload", method="POST"), incoming=[{"type": "http.disconnect"}]
    )
    assert result.exc is None
    assert logs.errors() == []
    (access,) = logs.access()
    assert (access["status"], access["outcome"]) == (499, "disconnect")


async def test_exception_group_member_reported_once(logs: LogCapture) -> None:
    """An anyio task group failing with one exception: one error record, one traceback."""
    import anyio

    async def fanout(request: Request) -> PlainTextResponse:
        async def worker() -> None:
            raise KeyError("missing")

        async with anyio.create_task_group() as group:
            group.start_soon(worker)
        return PlainTextResponse("unreachable")

    app = build_stack(Starlette(routes=[Route("/fanout", fanout)]))
    result = await call(app, http_scope(path="/fanout"))
    assert result.status == 500
    (error,) = logs.errors()
    assert error["error_type"] == "KeyError"
    assert logs.raw.count("Traceback (most recent call last)") >= 1
    assert len([line for line in logs.lines() if "exc_info" in line]) == 1


async def test_server_write_failure_is_a_disconnect(logs: LogCapture) -> None:
    """A server whose send raises OSError mid-stream (the client reset the connection): 499,
    no error record, nothing re-raised to the server."""

    async def stream(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for _ in range(3):
            await send({"type": "http.response.body", "body": b"chunk", "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    async def reset_after_start(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            raise ConnectionResetError("peer reset")

    result = await call(build_stack(stream), on_send=reset_after_start)
    assert result.exc is None
    assert logs.errors() == []
    (access,) = logs.access()
    assert (access["status"], access["outcome"]) == (499, "disconnect")


# A 5xx that then fails mid-body is one failure: one record, about what finally happened.
@pytest.mark.parametrize("ending", ["raises", "returns"])
async def test_5xx_then_failure_is_one_failure(logs: LogCapture, ending: str) -> None:
    """5xx started, then an exception (or an early return) mid-body: one error record."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 502, "headers": []})
        await send({"type": "http.response.body", "body": b"<html>", "more_body": True})
        if ending == "raises":
            raise RuntimeError("template crashed")

    result = await call(build_stack(app))
    assert result.exc is not None  # mid-response: the server must abort the connection
    (error,) = logs.errors()
    expected = "RuntimeError" if ending == "raises" else "IncompleteResponseError"
    assert (error["error_type"], error["status"]) == (expected, 502)
    (access,) = logs.access()
    assert (access["status"], access["outcome"]) == (502, "aborted")


async def test_swallowed_cancellation_is_not_a_failure(logs: LogCapture) -> None:
    """An app that swallows CancelledError and returns: no error record, 499 (Python 3.11+, where
    a task knows it is being cancelled; on 3.10 it looks like an app that sent nothing: a 500)."""
    import sys

    async def app(scope: Any, receive: Any, send: Any) -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            return  # cleanup, cancellation swallowed

    task = asyncio.create_task(call(build_stack(app)))
    await asyncio.sleep(0.01)
    task.cancel()
    result = await task
    (access,) = logs.access()
    if sys.version_info >= (3, 11):
        assert result.sent == []
        assert logs.errors() == []
        assert (access["status"], access["outcome"]) == (499, "disconnect")
    else:  # documented limitation of Python 3.10
        assert [line["message"] for line in logs.errors()] == ["App returned without starting a response"]
        assert (access["status"], access["outcome"]) == (500, "server_error")


def _ws_scope(**extra: Any) -> dict[str, Any]:
    return {**http_scope(path="/ws", headers=[(b"x-request-id", b"ws-1")]), "type": "websocket", **extra}


async def test_websocket_5xx_denial_is_a_failure(logs: LogCapture) -> None:
    """A WebSocket denied with a 503 (denial-response extension): one error record, server_error."""

    async def deny(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.http.response.start", "status": 503, "headers": []})
        await send({"type": "websocket.http.response.body", "body": b"maintenance"})

    scope = _ws_scope(extensions={"websocket.http.response": {}})
    result = await call(build_stack(deny), scope, incoming=[{"type": "websocket.connect"}])
    assert result.sent[0]["status"] == 503
    assert [line["status"] for line in logs.errors()] == [503]
    (access,) = logs.access()
    assert (access["status"], access["outcome"]) == (503, "server_error")


async def test_websocket_without_handshake_is_a_failure(logs: LogCapture) -> None:
    """An app that returns without accepting or closing: one error record (the server sends a 500)."""

    async def forgetful(scope: Any, receive: Any, send: Any) -> None:
        await receive()

    await call(build_stack(forgetful), _ws_scope(), incoming=[{"type": "websocket.connect"}])
    assert [line["message"] for line in logs.errors()] == ["App returned without a WebSocket handshake"]
    (access,) = logs.access()
    assert (access["status"], access["outcome"]) == (500, "server_error")


async def test_websocket_failure_before_accept_gets_a_500_with_the_id(logs: LogCapture) -> None:
    """An exception before the handshake, with the denial-response extension: a real 500
    carrying X-Request-ID (rather than a close the server turns into an anonymous 403)."""

    async def broken(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        raise RuntimeError("auth backend down")

    scope = _ws_scope(extensions={"websocket.http.response": {}})
    result = await call(build_stack(broken), scope, incoming=[{"type": "websocket.connect"}])
    start = result.sent[0]
    assert (start["type"], start["status"]) == ("websocket.http.response.start", 500)
    assert (b"x-request-id", b"ws-1") in start["headers"]
    (error,) = logs.errors()
    assert "auth backend down" in error["exc_info"]
    (access,) = logs.access()
    assert (access["status"], access["outcome"]) == (500, "server_error")
