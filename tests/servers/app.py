"""The app module the real servers serve: the framework checks' raw ASGI and Starlette apps.

``python -m <server> tests.servers.app:both`` (or ``:raw``, ``:starlette``). ``init_sentry()`` runs at
import (it reads ``SENTRY_DSN``; nothing without one), before the Starlette app is built.
With ``ASGI_OBS_TEST_INIT=1`` the module calls ``init_structured_logging()`` first: the recipe
for a server without a dict log config option (daphne).
"""

from __future__ import annotations

import os
from typing import Any

from asgi_obs import build_stack, init_sentry, init_structured_logging

if os.environ.get("ASGI_OBS_TEST_INIT") == "1":
    init_structured_logging()
init_sentry()

from ..frameworks import test_starlette  # noqa: E402 - built after init_sentry(), as documented
from ..frameworks.test_raw import raw_app  # noqa: E402


async def _with_lifespan(scope: Any, receive: Any, send: Any) -> None:
    # hypercorn -k trio (0.18) kills its worker when an app returns from the lifespan scope
    # without answering (trio.ClosedResourceError): a raw app should answer it anyway.
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
    await raw_app(scope, receive, send)


raw = build_stack(_with_lifespan)
starlette = build_stack(test_starlette.build(None))

_APPS = {"/raw": raw, "/starlette": starlette}


async def both(scope: Any, receive: Any, send: Any) -> None:
    """Both apps side by side in one process (half the server starts): ``/raw/...``, ``/starlette/...``.

    Each is wrapped whole with ``build_stack``; this dispatcher only strips the prefix, as a
    proxy routing on it would, and answers the lifespan itself.
    """
    if scope["type"] == "lifespan":
        await _with_lifespan(scope, receive, send)  # answers; the raw app is not called for it
        return
    prefix, _, rest = scope["path"][1:].partition("/")
    await _APPS[f"/{prefix}"]({**scope, "path": f"/{rest}", "raw_path": f"/{rest}".encode()}, receive, send)
