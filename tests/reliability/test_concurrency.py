"""2,000 concurrent requests: every line, the threadpool's and child tasks' included, has its own ids."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from typing import Any

import anyio.to_thread
import pytest

from asgi_obs import bind, build_stack, get_request_id, init_structured_logging

from ..asgi import call, http_scope

log = logging.getLogger("concurrency")
pytestmark = pytest.mark.anyio
REQUESTS = 2000


def in_thread(marker: str) -> None:
    log.info("thread", extra={"marker": marker})


async def in_child(marker: str) -> None:
    await asyncio.sleep(0)
    log.info("child", extra={"marker": marker})


async def app(scope: Any, receive: Any, send: Any) -> None:
    marker = scope["path"][1:]
    bind(bound=marker)
    await asyncio.sleep(0)  # let the other requests interleave
    await anyio.to_thread.run_sync(in_thread, marker)
    await asyncio.create_task(in_child(marker))
    log.info("handler", extra={"marker": marker, "seen": get_request_id()})
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": marker.encode()})


async def test_two_thousand_concurrent_requests_keep_their_own_context() -> None:
    """Each request's lines (handler, threadpool, create_task child, access) carry only its ids."""
    stream = io.StringIO()
    init_structured_logging("INFO", stream=stream)
    stack = build_stack(app)
    scopes = [http_scope(f"/m{n}", headers=[(b"x-request-id", f"m{n}".encode())]) for n in range(REQUESTS)]
    results = await asyncio.gather(*(call(stack, scope) for scope in scopes))
    assert [r.header(b"x-request-id") for r in results] == [[f"m{n}".encode()] for n in range(REQUESTS)]
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(lines) == 4 * REQUESTS
    for line in lines:
        expected = line.get("marker") or line["path"][1:]
        assert line["request_id"] == expected, line
        assert line["bound"] == expected
    traces = {line["request_id"]: line["trace_id"] for line in lines}
    assert len(set(traces.values())) == REQUESTS  # one trace per request, never shared
    assert get_request_id() is None  # nothing leaked into the test's own context
