"""AccessLogMiddleware: one record per request, at completion, with the DESIGN §5 fields."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, StreamingResponse
from starlette.routing import Mount, Route

from asgi_obs import AccessLogMiddleware, build_stack
from asgi_obs.redaction import DEFAULT_REDACTED_PARAMS

from .asgi import call, client, http_scope
from .conftest import LogCapture

pytestmark = pytest.mark.anyio


async def echo(request: Request) -> PlainTextResponse:
    body = await request.body()
    return PlainTextResponse(f"got {len(body)}")


async def slow_stream(request: Request) -> StreamingResponse:
    async def chunks() -> Any:
        for _ in range(3):
            await asyncio.sleep(0.05)
            yield b"0123456789"

    return StreamingResponse(chunks())


def app(**options: Any) -> Any:
    inner = Starlette(
        routes=[
            Route("/users/{user_id}", echo, methods=["GET", "POST"]),
            Route("/stream", slow_stream),
            Route("/health", echo),
            Mount("/api", routes=[Route("/items/{item_id:int}", echo)]),
        ]
    )
    return build_stack(inner, **options)


async def test_fields_of_a_successful_request(logs: LogCapture) -> None:
    """Every DESIGN §5 field, with the route template and byte counts."""
    async with client(app()) as http:
        response = await http.post(
            "/users/5?x=1", content=b"hello", headers={"X-Request-ID": "acc-1", "User-Agent": "pytest-ua"}
        )
    assert response.text == "got 5"
    (line,) = logs.access()
    assert line["message"] == "POST /users/5 200"
    assert line["level"] == "INFO"
    assert line["request_id"] == "acc-1"
    expected = {
        "method": "POST",
        "path": "/users/5",
        "route": "/users/{user_id}",
        "query": "x=1",
        "status": 200,
        "request_bytes": 5,
        "response_bytes": 5,
        "client_ip": "127.0.0.1",
        "user_agent": "pytest-ua",
        "http_version": "1.1",
        "outcome": "success",
    }
    assert {key: line[key] for key in expected} == expected
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0


async def test_head_sends_no_body_bytes(logs: LogCapture) -> None:
    """HEAD: the app hands over a body the server drops, so the record counts none of it."""
    async with client(app()) as http:
        head = await http.head("/users/5")
        get = await http.get("/users/5")
    assert (head.status_code, head.content, get.text) == (200, b"", "got 0")
    head_line, get_line = logs.access()
    assert (head_line["method"], head_line["response_bytes"]) == ("HEAD", 0)
    assert (get_line["method"], get_line["response_bytes"]) == ("GET", 5)


async def test_route_under_mount_and_unmatched(logs: LogCapture) -> None:
    """A mounted route shows the full template; a 404 has route null and no query key."""
    async with client(app()) as http:
        await http.get("/api/items/7")
        await http.get("/nowhere")
    mounted, missing = logs.access()
    assert mounted["route"] == "/api/items/{item_id:int}"
    assert missing["route"] is None and "query" not in missing
    assert missing["outcome"] == "client_error"


async def test_query_redaction_and_headers_never_logged(logs: LogCapture) -> None:
    """Secret query values are redacted (names case-insensitive, percent-decoded); Authorization
    and Cookie never appear anywhere."""
    async with client(app()) as http:
        await http.get(
            "/users/1?token=t0k3n-v4lue&x=1&Api_Key=k1-4pi-k3y&%70assword=pw-p4ss&note=keep",
            headers={"Authorization": "Bearer s3cret-token", "Cookie": "session=c00kie"},
        )
    (line,) = logs.access()
    assert line["query"] == "token=[REDACTED]&x=1&Api_Key=[REDACTED]&%70assword=[REDACTED]&note=keep"
    # (Values no random hex id can contain: a test that cannot flake.)
    for secret in ("t0k3n-v4lue", "k1-4pi-k3y", "pw-p4ss", "s3cret-token", "c00kie", "Bearer"):
        assert secret not in logs.raw


async def test_redaction_extendable_and_query_truncated(logs: LogCapture) -> None:
    """redact_query_params extends the list; a query past 2 KB is cut after redaction."""
    async with client(app(redact_query_params=DEFAULT_REDACTED_PARAMS | {"session"})) as http:
        await http.get("/users/1", params={"session": "s1", "token": "t1", "pad": "p" * 3000})
    (line,) = logs.access()
    assert line["query"].startswith("session=[REDACTED]&token=[REDACTED]&pad=ppp")
    assert line["query"].endswith("...[truncated]")
    assert len(line["query"]) == 2048 + len("...[truncated]")


async def test_skip_paths_success_only(logs: LogCapture) -> None:
    """A skipped path is not recorded when it succeeds, and is when it fails."""

    async def health(scope: Any, receive: Any, send: Any) -> None:
        status = 200 if scope["query_string"] != b"fail=1" else 503
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    stacked = build_stack(health, skip_paths=["/health"])
    await call(stacked, http_scope(path="/health"))
    await call(stacked, http_scope(path="/health", query=b"fail=1"))
    await call(stacked, http_scope(path="/other"))
    assert [(line["path"], line["status"]) for line in logs.access()] == [("/health", 503), ("/other", 200)]


async def test_duration_measured_to_last_byte(logs: LogCapture) -> None:
    """A 3-chunk stream with 50 ms pauses takes at least 150 ms, measured to the last byte."""
    started = time.perf_counter()
    async with client(app()) as http:
        response = await http.get("/stream")
    elapsed_ms = (time.perf_counter() - started) * 1000
    assert response.content == b"0123456789" * 3
    (line,) = logs.access()
    assert 150 <= line["duration_ms"] <= elapsed_ms
    assert line["response_bytes"] == 30


async def test_record_written_at_completion_before_background_work(logs: LogCapture) -> None:
    """The record is written when the last byte is sent, before work the app does afterwards."""
    order: list[str] = []

    async def late_work(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})
        order.append(f"after send: {len(logs.access())} access record(s)")

    await call(build_stack(late_work))
    assert order == ["after send: 1 access record(s)"]


async def test_level_for_and_logger_level(logs: LogCapture) -> None:
    """level_for overrides the level; a logger above that level skips building the record."""

    async def not_found(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    stacked = build_stack(
        not_found, level_for=lambda status, outcome: logging.DEBUG if status == 404 else logging.INFO
    )
    await call(stacked)
    assert logs.access() == []  # DEBUG is below the root's INFO
    logging.getLogger("asgi_obs.access").setLevel(logging.DEBUG)
    try:
        await call(stacked)
    finally:
        logging.getLogger("asgi_obs.access").setLevel(logging.NOTSET)
    (line,) = logs.access()
    assert line["level"] == "DEBUG"


async def test_websocket_record_at_close(logs: LogCapture) -> None:
    """One record when the socket closes: 101, close code, messages and bytes in/out."""

    async def echo_ws(scope: Any, receive: Any, send: Any) -> None:
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept"})
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            await send({"type": "websocket.send", "text": message["text"] * 2})

    scope = {**http_scope(path="/ws"), "type": "websocket"}
    incoming = [
        {"type": "websocket.connect"},
        {"type": "websocket.receive", "text": "hi"},
        {"type": "websocket.receive", "text": "héllo"},
        {"type": "websocket.disconnect", "code": 1001},
    ]
    await call(build_stack(echo_ws), scope, incoming=incoming)
    (line,) = logs.access()
    assert line["message"] == "WEBSOCKET /ws 101"
    assert (line["status"], line["outcome"], line["close_code"]) == (101, "success", 1001)
    assert (line["messages_in"], line["messages_out"]) == (2, 2)
    assert (line["request_bytes"], line["response_bytes"]) == (2 + 6, 4 + 12)


async def test_websocket_rejected_before_accept(logs: LogCapture) -> None:
    """A socket closed before accept is recorded as the 403 the server sends."""

    async def reject(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.close", "code": 1008})

    scope = {**http_scope(path="/ws"), "type": "websocket"}
    await call(build_stack(reject), scope, incoming=[{"type": "websocket.connect"}])
    (line,) = logs.access()
    assert (line["status"], line["outcome"], line["close_code"]) == (403, "client_error", 1008)


async def test_logging_failure_never_breaks_the_request(
    logs: LogCapture, capsys: pytest.CaptureFixture[str]
) -> None:
    """A filter that raises on the access record: the response is still delivered."""

    class Exploding(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            raise RuntimeError("filter bug")

    access_logger = logging.getLogger("asgi_obs.access")
    access_logger.addFilter(exploding := Exploding())
    try:
        async with client(app()) as http:
            response = await http.get("/users/1")
    finally:
        access_logger.removeFilter(exploding)
    assert response.status_code == 200
    assert (
        "asgi_obs: writing a asgi_obs.access record failed: RuntimeError: filter bug"
        in capsys.readouterr().err
    )


def test_options_validated_eagerly() -> None:
    """Bad options are ValueErrors at construction."""
    with pytest.raises(ValueError, match="skip_paths"):
        AccessLogMiddleware(echo, skip_paths="/health")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="skip_paths"):
        AccessLogMiddleware(echo, skip_paths=["health"])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="level_for"):
        AccessLogMiddleware(echo, level_for=5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_length"):
        AccessLogMiddleware(echo, max_query_length=3)  # type: ignore[arg-type]


async def test_a_filter_rewriting_a_field_is_honoured(logs: LogCapture) -> None:
    """A filter that rewrites an access field (redacting the path): the JSON line shows the
    rewritten value, not the one the record was built with."""

    class RedactPath(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            record.path = "/users/<id>"  # type: ignore[attr-defined]
            return True

    access_logger = logging.getLogger("asgi_obs.access")
    redact = RedactPath()
    access_logger.addFilter(redact)
    try:
        async with client(app()) as http:
            await http.get("/users/5")
    finally:
        access_logger.removeFilter(redact)
    (line,) = logs.access()
    assert line["path"] == "/users/<id>"


async def test_another_handler_sees_a_real_record(logs: LogCapture) -> None:
    """The access record is a full LogRecord: a classic %-style handler can use every attribute."""
    import io

    classic_stream = io.StringIO()
    classic = logging.StreamHandler(classic_stream)
    classic.setFormatter(
        logging.Formatter(
            "%(asctime)s %(levelname)s %(name)s %(process)d %(threadName)s %(status)s %(message)s"
        )
    )
    access_logger = logging.getLogger("asgi_obs.access")
    access_logger.addHandler(classic)
    try:
        async with client(app()) as http:
            await http.get("/users/5")
    finally:
        access_logger.removeHandler(classic)
    (line,) = logs.access()
    assert (line["path"], line["status"]) == ("/users/5", 200)
    text = classic_stream.getvalue()
    assert " INFO asgi_obs.access " in text
    assert text.rstrip().endswith(" 200 GET /users/5 200")


async def test_ids_survive_a_queue_handler(logs: LogCapture) -> None:
    """QueueHandler + QueueListener (formatting in another thread, outside the request): the
    access record still carries its request's ids, stamped by the layer when it was made."""
    import logging.handlers
    import queue

    root = logging.getLogger()
    (json_handler,) = root.handlers
    records: queue.Queue[logging.LogRecord] = queue.Queue()
    queue_handler = logging.handlers.QueueHandler(records)
    listener = logging.handlers.QueueListener(records, json_handler)
    root.handlers[:] = [queue_handler]
    listener.start()
    try:
        async with client(app()) as http:
            await http.post("/users/1", content=b"x", headers={"X-Request-ID": "queued-1"})
    finally:
        listener.stop()
        root.handlers[:] = [json_handler]
    (line,) = logs.access()
    assert line["request_id"] == "queued-1"
    assert line["status"] == 200


# client_ip behind proxies: the direct peer and X-Forwarded-For, with and without trusted_proxies.
@pytest.mark.parametrize(
    ("trusted", "peer", "forwarded", "expected"),
    [
        ((), "10.0.0.5", b"203.0.113.7", "10.0.0.5"),  # not configured: the peer, header ignored
        (("10.0.0.0/8",), "10.0.0.5", b"198.51.100.1, 203.0.113.7", "203.0.113.7"),
        (("10.0.0.0/8",), "10.0.0.5", b"6.6.6.6, 203.0.113.7, 10.0.0.9", "203.0.113.7"),  # spoofed left
        (("10.0.0.0/8",), "192.0.2.44", b"203.0.113.7", "192.0.2.44"),  # untrusted peer: header ignored
        (("10.0.0.0/8",), "10.0.0.5", b"not-an-ip", "10.0.0.5"),  # garbage never reaches the log
    ],
)
async def test_client_ip_with_trusted_proxies(
    logs: LogCapture, trusted: tuple[str, ...], peer: str, forwarded: bytes, expected: str
) -> None:
    """client_ip walks X-Forwarded-For right to left only from a trusted peer, never its leftmost."""

    async def ok(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    scope = http_scope("/ip", headers=[(b"x-forwarded-for", forwarded)])
    scope["client"] = (peer, 4000)
    await call(build_stack(ok, trusted_proxies=trusted), scope)
    (line,) = logs.access()
    assert line["client_ip"] == expected


def test_trusted_proxies_are_validated() -> None:
    """A malformed CIDR is a ValueError at construction, naming the option."""
    with pytest.raises(ValueError, match="trusted_proxies"):
        build_stack(lambda s, r, w: None, trusted_proxies=["10.0.0.0/33"])
