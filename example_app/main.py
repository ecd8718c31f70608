"""The example service: configure the process, build the app, serve it.

The order is the point of this file:

1. ``init_structured_logging()`` first, so every line from then on (uvicorn's included) is JSON;
2. ``init_sentry()`` next: reads ``SENTRY_DSN``, does nothing without one;
3. the Starlette app is built *after* ``init_sentry()``: Sentry's Starlette integration patches
   route construction, so an app built earlier would not be instrumented;
4. ``build_stack()`` wraps the *whole* app, so even Starlette's own 500 carries ``X-Request-ID``.

Why ``configure()`` and ``create_app()`` are two functions, and there is no module-level ``app``:
steps 1-2 change the whole process (the root logger's handler, the Sentry client), so they
belong to the process's entry point, not to ``import``. The tests call ``create_app()`` under
their own captured logging and their own Sentry transport, and importing this module never
touches either. ``uvicorn --factory example_app.main:configured_app`` runs both steps.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import AsyncIterator
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.types import ASGIApp

from asgi_obs import build_stack, init_sentry, init_structured_logging, inject_headers, uvicorn_log_config

from .routes import build_routes

logger = logging.getLogger("example_app")


def configure() -> bool:
    """Set up the process: JSON logging, then Sentry. Returns whether Sentry is on."""
    init_structured_logging()  # LOG_LEVEL honoured
    return init_sentry()  # SENTRY_DSN, SENTRY_ENVIRONMENT, SENTRY_RELEASE honoured


def create_app(*, http_transport: httpx.AsyncBaseTransport | None = None) -> ASGIApp:
    """Build the Starlette app wrapped in the asgi_obs stack. Call it after :func:`configure`.

    ``http_transport`` is for the downstream client (tests pass an in-process transport).
    """

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        # One client for the process (pooled connections); inject_headers puts the current
        # request's X-Request-ID and trace headers on every call it makes.
        async with httpx.AsyncClient(
            transport=http_transport, event_hooks={"request": [inject_headers]}, timeout=10.0
        ) as http:
            yield {"http": http}  # request.state.http in the endpoints

    app = Starlette(routes=build_routes(), lifespan=lifespan)
    return build_stack(app, skip_paths=["/health"])


def configured_app() -> ASGIApp:
    """:func:`configure`, then :func:`create_app`: the app as the process serves it."""
    configure()
    return create_app()


def serve() -> None:
    """Serve on ``HOST``:``PORT`` (default ``127.0.0.1:8000``): ``python -m example_app``."""
    app = configured_app()
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "8000"))
    logger.info("Starting example_app", extra={"host": host, "port": port})
    # log_config keeps uvicorn's own lines JSON; its access line is off (the stack writes a
    # richer one, with the ids).
    uvicorn.run(app, host=host, port=port, log_config=uvicorn_log_config(), access_log=False)
