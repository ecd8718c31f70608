"""The service's endpoints: what each request does, and nothing about how it is observed.

Endpoints log with plain ``logging``; asgi_obs, wrapped around the whole app in ``main.py``, puts
the request's ids on every line and turns each failure into one error record and one Sentry
event. So there is no ``try/except`` here: an endpoint that fails just raises.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import httpx
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket

from . import sentry_utils

logger = logging.getLogger("example_app")


async def hello(request: Request) -> JSONResponse:
    # asgi_obs mirrors the ids into scope["state"]: readable without importing anything.
    return JSONResponse({"message": "Hello from example_app", "request_id": request.state.request_id})


async def get_user(request: Request) -> JSONResponse:
    user_id: int = request.path_params["user_id"]
    # No authentication in this example: the user the request is about stands in for the
    # signed-in user an auth layer would attach.
    sentry_utils.set_user(user_id)
    logger.info("User fetched", extra={"user_id": user_id})
    return JSONResponse({"id": user_id, "name": f"user-{user_id}"})


async def _get_active_conversations_count() -> int:
    """Count the active conversations (stands in for an async database query)."""
    await asyncio.sleep(0)  # the driver's await: the loop serves other requests meanwhile
    return 3


async def active_conversations(request: Request) -> JSONResponse:
    # The classic bug this replaces: `asyncio.run(_get_active_conversations_count())` inside an
    # endpoint. The event loop is already running, so asyncio.run() raises RuntimeError
    # ("cannot be called from a running event loop"), and the 500 (or the `except` around it)
    # hides the real question: was the query right? In async code, await.
    count = await _get_active_conversations_count()
    return JSONResponse({"active_conversations": count})


async def slow(request: Request) -> JSONResponse:
    # asyncio.sleep yields to the loop; time.sleep would freeze every request of the process
    # (ruff's ASYNC rules reject it).
    await asyncio.sleep(0.1)
    return JSONResponse({"slept_ms": 100})


async def boom(request: Request) -> JSONResponse:
    logger.info("About to fail on purpose")  # a breadcrumb on the Sentry event
    raise RuntimeError("boom: an unhandled error in an endpoint")


async def http_error(request: Request) -> JSONResponse:
    code: int = request.path_params["code"]
    if not 400 <= code <= 599:
        raise HTTPException(400, detail="code must be a 4xx or 5xx status")
    # 4xx: an access record, no error. 5xx: one error record and one Sentry event.
    raise HTTPException(code)


async def stream(request: Request) -> StreamingResponse:
    async def chunks() -> AsyncIterator[bytes]:
        for number in range(3):
            yield f"chunk {number}\n".encode()
            await asyncio.sleep(0)

    return StreamingResponse(chunks(), media_type="text/plain")


async def stream_fail(request: Request) -> StreamingResponse:
    logger.info("Streaming a report")

    async def chunks() -> AsyncIterator[bytes]:
        yield b"chunk 0\n"
        await asyncio.sleep(0)
        # The 200 is already sent: the client gets a truncated body and a closed connection,
        # the logs an `aborted` access record and one error record.
        raise RuntimeError("stream-fail: the source broke after the first chunk")

    return StreamingResponse(chunks(), media_type="text/plain")


async def health(request: Request) -> JSONResponse:
    # Listed in skip_paths (main.py): no access record while it succeeds.
    return JSONResponse({"status": "ok", "sentry": sentry_utils.sentry_enabled()})


async def downstream(request: Request) -> JSONResponse:
    """Call ``GET /users/7`` on this same service; both requests share the ids."""
    http: httpx.AsyncClient = request.state.http  # created by the lifespan (main.py)
    # Addressed at the socket this request arrived on, not at its Host header: a client must
    # never choose where the service sends requests.
    host, port = request.scope["server"]
    url = httpx.URL(scheme="http", host=host, port=port, path=request.app.url_path_for("user", user_id=7))
    response = await http.get(url)  # inject_headers adds X-Request-ID and the trace headers
    response.raise_for_status()  # a failed call fails this request: one error record, one event
    return JSONResponse({"downstream_status": response.status_code, "user": response.json()})


async def echo(websocket: WebSocket) -> None:
    await websocket.accept()  # asgi_obs adds X-Request-ID to the handshake response
    logger.info("WebSocket connected")
    async for text in websocket.iter_text():  # ends when the client closes
        await websocket.send_text(text)


def build_routes() -> list[BaseRoute]:
    """The routes, built on each call.

    A function rather than a module-level list: Sentry's Starlette integration wraps endpoints
    when a ``Route`` is constructed, so routes must be built after ``init_sentry()``.
    """
    return [
        Route("/", hello),
        Route("/users/{user_id:int}", get_user, name="user"),
        Route("/conversations/active", active_conversations),
        Route("/slow", slow),
        Route("/boom", boom),
        Route("/http-error/{code:int}", http_error),
        Route("/stream", stream),
        Route("/stream-fail", stream_fail),
        Route("/health", health),
        Route("/downstream", downstream),
        WebSocketRoute("/ws", echo),
    ]
