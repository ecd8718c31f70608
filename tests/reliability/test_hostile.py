"""Hostile input, property-based: whatever a client sends, one valid JSON line per record, safe ids.

Each example runs one request through the real stack (``build_stack`` around a raw app that
logs once and answers 200) with the real handler on a StringIO, and checks what a user would
observe: the response, its ``X-Request-ID``, and every line written.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asgi_obs import build_stack, get_request_id, init_structured_logging

from ..asgi import call, http_scope

VALID_ID = re.compile(r"[A-Za-z0-9._:@/+=\-]{1,128}")
HEX32 = re.compile(r"[0-9a-f]{32}")
log = logging.getLogger("hostile")
EXAMPLES = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


async def app(scope: Any, receive: Any, send: Any) -> None:
    log.info("handled", extra={"seen_id": get_request_id()})
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


STACK = build_stack(app)
# Header values as a server hands them over: any bytes but CR/LF (h11 and httptools reject those).
header_value = st.binary(max_size=300).filter(lambda b: b"\r" not in b and b"\n" not in b)
text = st.text(max_size=3000)


def run(scope: dict[str, Any]) -> tuple[Any, list[dict[str, Any]], str]:
    stream = io.StringIO()
    init_structured_logging("INFO", stream=stream)
    result = asyncio.run(call(STACK, scope))
    raw = stream.getvalue()
    return result, [json.loads(line) for line in raw.splitlines()], raw


@EXAMPLES
@given(
    request_id=header_value.map(lambda raw: b"ZQXJ" + raw),  # a tag to look for in the output
    sentry_trace=header_value,
    traceparent=header_value,
    agent=header_value,
)
def test_hostile_id_and_trace_headers(
    request_id: bytes, sentry_trace: bytes, traceparent: bytes, agent: bytes
) -> None:
    """Any X-Request-ID, sentry-trace, traceparent, User-Agent: a valid id out, raw input never logged."""
    headers = [
        (b"x-request-id", request_id),
        (b"sentry-trace", sentry_trace),
        (b"traceparent", traceparent),
        (b"user-agent", agent),
    ]
    result, lines, raw = run(http_scope("/h", headers=headers))
    assert result.status == 200
    (echoed,) = result.header(b"x-request-id")
    rid = echoed.decode("ascii")
    assert VALID_ID.fullmatch(rid)
    if rid != request_id.decode("latin-1"):  # rejected: never written anywhere, in any form
        assert "ZQXJ" not in raw
    for line in lines:
        assert line["request_id"] == rid
        assert HEX32.fullmatch(line["trace_id"])
    (access,) = [line for line in lines if line["logger"] == "asgi_obs.access"]
    assert access["user_agent"] is None or len(access["user_agent"]) <= 512


@EXAMPLES
@given(path=text, query=st.binary(max_size=3000))
def test_hostile_path_and_query(path: str, query: bytes) -> None:
    """Any path and query: one line per record, each a single JSON line, the path and query capped."""
    scope = http_scope("/" + path, query=query)
    result, lines, raw = run(scope)
    assert result.status == 200
    assert len(raw.splitlines()) == len(lines) == 2  # the app's line and the access record
    for separator in ("\u2028", "\u2029", "\u0085"):
        assert separator not in raw  # escaped: one line stays one line for every reader
    (access,) = [line for line in lines if line["logger"] == "asgi_obs.access"]
    assert len(access["path"]) <= 2048 + len("...[truncated]")
    assert len(access.get("query", "")) <= 2048 + len("...[truncated]")


def test_a_64kb_path_makes_a_small_line() -> None:
    """A 64 KB path (on every request of a hostile client) is cut: the access line stays small."""
    result, lines, raw = run(http_scope("/" + "p" * 65536))
    assert result.status == 200
    (access,) = [line for line in lines if line["logger"] == "asgi_obs.access"]
    assert access["path"].endswith("...[truncated]") and len(access["path"]) == 2048 + 14
    assert access["message"] == f"GET {access['path']} 200"
    assert max(len(line) for line in raw.splitlines()) < 5000  # the path twice (message, field)
