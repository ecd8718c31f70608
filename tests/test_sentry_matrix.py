"""The event-count matrix: exactly one Sentry event per failure, with the request's identity.

Raw ASGI, Starlette and FastAPI apps, each with build_stack outermost and Sentry's default
integrations, with and without DedupeIntegration. Each failing request runs concurrently with a
neighbour request, and its event must carry its own breadcrumbs and none of the neighbour's.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from asgi_obs import build_stack

from . import sentry_apps, sentry_support
from .asgi import call, http_scope
from .conftest import LogCapture

pytestmark = [pytest.mark.anyio, pytest.mark.sentry]

# path -> (status the client sees, Sentry events)
FRAMEWORK_ROWS = {
    "/raise": (500, 1),
    "/raise-sync": (500, 1),
    "/http-500": (500, 1),
    "/http-503": (503, 1),
    "/http-404": (404, 0),
    "/logged-reraise": (500, 1),
    "/logged-reraise-sync": (500, 1),
    "/logged-then-http-500": (500, 1),
    "/custom-handler-500": (500, 1),
    "/returned-500": (500, 1),
    "/after-start": (200, 1),
    "/disconnect": (200, 0),
}
RAW_ROWS = {
    path: FRAMEWORK_ROWS[path]
    for path in ("/raise", "/http-404", "/logged-reraise", "/returned-500", "/after-start", "/disconnect")
}


def _build(kind: str) -> Any:
    if kind == "raw":
        return sentry_apps.raw_app
    if kind == "starlette":
        return sentry_apps.starlette_app()
    if kind == "starlette+middleware":
        return sentry_apps.starlette_app(with_http_middleware=True)
    if kind == "fastapi":
        return sentry_apps.fastapi_app()
    return sentry_apps.fastapi_app(with_http_middleware=True)


CASES = [
    pytest.param(kind, path, status, count, dedupe, id=f"{kind}{path}-dedupe-{'on' if dedupe else 'off'}")
    for dedupe in (True, False)
    for kind, rows in [
        ("raw", RAW_ROWS),
        ("starlette", FRAMEWORK_ROWS),
        ("fastapi", FRAMEWORK_ROWS),
        ("starlette+middleware", {"/raise": (500, 1), "/returned-500": (500, 1)}),
        ("fastapi+middleware", {"/raise": (500, 1), "/logged-reraise": (500, 1)}),
    ]
    for path, (status, count) in rows.items()
]


@pytest.mark.parametrize(("kind", "path", "status", "count", "dedupe"), CASES)
async def test_one_event_per_failure(
    logs: LogCapture, kind: str, path: str, status: int, count: int, dedupe: bool
) -> None:
    """Exactly the expected number of events; each one carries its request's id, trace and crumbs."""
    transport = sentry_support.MemoryTransport()
    sentry_support.init(transport, dedupe=dedupe)
    app = build_stack(_build(kind))  # built after init: integrations patch the frameworks
    # A first request, so that the rows below do not run on a fresh process state.
    warm_up = await call(app, http_scope(path="/neighbour", headers=[(b"x-request-id", b"warm-up")]))
    assert warm_up.status == 200

    failing = http_scope(path=path, headers=[(b"x-request-id", b"failing-1")])
    neighbour = http_scope(path="/neighbour", headers=[(b"x-request-id", b"neighbour-1")])
    result, _ = await asyncio.gather(
        call(app, failing, disconnect_after_start=path == "/disconnect"),
        call(app, neighbour),
    )
    assert result.status == status
    assert result.header(b"x-request-id") == [b"failing-1"]

    events = [
        e for e in transport.events if e.get("tags", {}).get("request_id") not in ("neighbour-1", "warm-up")
    ]
    assert len(events) == count, [(e.get("logger"), e.get("message"), e.get("exception")) for e in events]
    assert len(transport.events) == count  # the neighbour never produced one either
    if not count:
        return
    (event,) = events
    assert event["tags"]["request_id"] == "failing-1"
    trace_ids = {line["trace_id"] for line in logs.lines() if line["request_id"] == "failing-1"}
    assert trace_ids == {event["contexts"]["trace"]["trace_id"]}
    crumbs = event.get("breadcrumbs", {}).get("values", [])
    own = [c for c in crumbs if c.get("message") == "handling"]
    assert [c["data"]["marker"] for c in own] == ["failing-1"]
    assert not [c for c in crumbs if "neighbour-1" in str(c.get("data")) or "warm-up" in str(c.get("data"))]
    if path in ("/logged-reraise", "/logged-reraise-sync"):
        assert len(logs.raw.split("Traceback (most recent call last)")) == 2  # one traceback


async def test_disabling_message_events(logs: LogCapture) -> None:
    """capture_5xx_responses=False: a 5xx returned without an exception makes no event."""
    transport = sentry_support.MemoryTransport()
    sentry_support.init(transport)
    app = build_stack(sentry_apps.raw_app, capture_5xx_responses=False)
    result = await call(app, http_scope(path="/returned-500"))
    assert result.status == 500
    assert transport.events == []
    assert len(logs.errors()) == 1  # still logged
