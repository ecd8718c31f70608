"""The app ``sentry_outage.py`` serves: ``build_stack`` over a raw ASGI app, Sentry from the env.

``GET /ok`` answers ``200 ok``; ``GET /fail`` raises (the stack answers 500, writes the error
record and sends one Sentry event). Logging and Sentry are set up the documented way, at import:
``init_structured_logging()`` (stdout) and ``init_sentry()`` (``SENTRY_DSN``; with
``OUTAGE_STOCK_TRANSPORT=1``, ``init_sentry(transport=sentry_sdk's HttpTransport)``). Run with
``uvicorn --app-dir bench _outage_app:app --lifespan off --no-access-log``.
"""

from __future__ import annotations

import os
from typing import Any

from asgi_obs import build_stack, init_sentry, init_structured_logging

init_structured_logging()
if os.environ.get("OUTAGE_STOCK_TRANSPORT"):  # the "before" rows: sentry-sdk's own transport
    from sentry_sdk.transport import HttpTransport

    SENTRY = init_sentry(transport=HttpTransport)
else:
    SENTRY = init_sentry()


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    if scope["path"] == "/fail":
        raise RuntimeError("outage bench failure")
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


app = build_stack(_app)
