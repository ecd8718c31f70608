"""The event-count matrix apps: one route per failure mode, in raw ASGI, Starlette and FastAPI.

Every route logs ``handling`` at INFO with the request's id as ``marker`` first, then yields to
the event loop (so a concurrent request interleaves), then fails its own way.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, StreamingResponse

from asgi_obs import get_request_id

log = logging.getLogger("test.sentry.app")


class CustomError(Exception):
    """Handled by a custom exception handler that answers 500."""


async def _handling() -> None:
    log.info("handling", extra={"marker": get_request_id()})
    await asyncio.sleep(0.005)


def _handling_sync() -> None:
    log.info("handling", extra={"marker": get_request_id()})


# --- raw ASGI ---------------------------------------------------------------------------------


async def raw_app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    path = scope["path"]
    await _handling()
    if path == "/raise":
        raise RuntimeError("raw raise")
    if path == "/logged-reraise":
        try:
            raise ValueError("raw logged")
        except ValueError:
            log.exception("app logged it")
            raise
    if path == "/after-start":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"part", "more_body": True})
        raise RuntimeError("raw mid-stream")
    if path == "/disconnect":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        while (await receive())["type"] != "http.disconnect":
            pass
        return
    status = {"/returned-500": 500, "/http-404": 404}.get(path, 200)
    await send({"type": "http.response.start", "status": status, "headers": []})
    await send({"type": "http.response.body", "body": b"raw"})


# --- Starlette and FastAPI share the endpoints ------------------------------------------------


def _endpoints() -> dict[str, Any]:
    async def neighbour(request: Request) -> PlainTextResponse:
        await _handling()
        await asyncio.sleep(0.005)
        return PlainTextResponse("fine")

    async def raise_(request: Request) -> PlainTextResponse:
        await _handling()
        raise RuntimeError("async raise")

    def raise_sync(request: Request) -> PlainTextResponse:
        _handling_sync()
        raise RuntimeError("sync raise")

    def http_status(code: int) -> Any:
        async def endpoint(request: Request) -> PlainTextResponse:
            await _handling()
            raise HTTPException(code)

        return endpoint

    async def logged_reraise(request: Request) -> PlainTextResponse:
        await _handling()
        try:
            raise ValueError("async logged")
        except ValueError:
            log.exception("app logged it")
            raise

    def logged_reraise_sync(request: Request) -> PlainTextResponse:
        _handling_sync()
        try:
            raise ValueError("sync logged")
        except ValueError:
            log.exception("app logged it")
            raise

    async def logged_then_http_500(request: Request) -> PlainTextResponse:
        await _handling()
        try:
            raise KeyError("db row missing")
        except KeyError as exc:
            log.exception(exc)
            raise HTTPException(500) from exc

    async def custom_handler_500(request: Request) -> PlainTextResponse:
        await _handling()
        raise CustomError("handled into a 500")

    async def returned_500(request: Request) -> JSONResponse:
        await _handling()
        return JSONResponse({"error": "upstream"}, status_code=500)

    async def after_start(request: Request) -> StreamingResponse:
        await _handling()

        async def chunks() -> Any:
            yield b"part"
            raise RuntimeError("mid-stream")

        return StreamingResponse(chunks())

    async def disconnect(request: Request) -> StreamingResponse:
        await _handling()

        async def chunks() -> Any:
            while True:
                yield b"tick"
                await asyncio.sleep(0.001)

        return StreamingResponse(chunks())

    return {
        "/neighbour": neighbour,
        "/raise": raise_,
        "/raise-sync": raise_sync,
        "/http-500": http_status(500),
        "/http-503": http_status(503),
        "/http-404": http_status(404),
        "/logged-reraise": logged_reraise,
        "/logged-reraise-sync": logged_reraise_sync,
        "/logged-then-http-500": logged_then_http_500,
        "/custom-handler-500": custom_handler_500,
        "/returned-500": returned_500,
        "/after-start": after_start,
        "/disconnect": disconnect,
    }


async def _custom_handler(request: Any, exc: Exception) -> Any:
    return JSONResponse({"error": "custom"}, status_code=500)


async def _passthrough(request: Any, call_next: Any) -> Any:
    return await call_next(request)


def starlette_app(*, with_http_middleware: bool = False) -> Any:
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.middleware.base import BaseHTTPMiddleware
    from starlette.routing import Route

    routes = [Route(path, endpoint, methods=["GET", "POST"]) for path, endpoint in _endpoints().items()]
    middleware = [Middleware(BaseHTTPMiddleware, dispatch=_passthrough)] if with_http_middleware else []
    return Starlette(routes=routes, middleware=middleware, exception_handlers={CustomError: _custom_handler})


def fastapi_app(*, with_http_middleware: bool = False) -> Any:
    from fastapi import FastAPI

    app = FastAPI()
    for path, endpoint in _endpoints().items():
        app.add_api_route(path, endpoint, methods=["GET"])
    app.add_exception_handler(CustomError, _custom_handler)
    if with_http_middleware:
        app.middleware("http")(_passthrough)
    return app
