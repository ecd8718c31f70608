"""The app test_sentry_outage serves: ``build_stack`` over a raw app, Sentry from ``SENTRY_DSN``.

``GET /fail`` raises (a 500 and one Sentry event); ``GET /flush`` answers once sentry-sdk's
queue is empty (``sentry_sdk.flush``), so the test knows every event was tried. Run with
``--lifespan off``.
"""

from __future__ import annotations

from typing import Any

import sentry_sdk

from asgi_obs import build_stack, init_sentry, init_structured_logging

init_structured_logging()
assert init_sentry()  # SENTRY_DSN: a closed port or the test's sink


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["path"] == "/fail":
        raise RuntimeError("sentry outage test failure")
    if scope["path"] == "/flush":
        sentry_sdk.flush(timeout=10)  # blocks the loop: fine for a test, all requests are done
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


app = build_stack(_app)
