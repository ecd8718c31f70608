"""Direct emission: the access line written straight from its fields is the LogRecord path's line.

The layer writes its record directly only while the one handler ``init_structured_logging()``
installed would be the only one to see it (asgi_obs._direct); any change to the logging setup
sends the next record down the full LogRecord path at once. What a user observes: the same
bytes on both paths, and every change they make (a filter, a handler, a record factory, a
formatter, Sentry's logging integration) taking effect on the very next request.
"""

from __future__ import annotations

import io
import logging
import logging.handlers
import queue
import time
from collections.abc import Iterator
from typing import Any

import pytest

import asgi_obs._core
import asgi_obs.access_log
import asgi_obs.handler
from asgi_obs import SuppressUnwantedLogsFilter, bind, build_stack, init_structured_logging

from .asgi import call, http_scope

pytestmark = pytest.mark.anyio


async def app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] == "websocket":
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": "hi"})
        await send({"type": "websocket.close", "code": 1000})
        return
    path = scope["path"]
    if path.startswith("/bound"):
        bind(tenant="acme", note="line\u2028separator", count=3)
    status = 404 if path == "/missing" else 503 if path == "/busy" else 200
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


# (path, query, user agent, method): ASCII, redacted query, a bound non-ASCII separator,
# a non-ASCII user agent, HEAD, a client error, a server error, a path over the cap.
REQUESTS = [
    ("/hello", b"", b"curl/8.0", "GET"),
    ("/search", b"q=shoes&token=s3cret", b"curl/8.0", "GET"),
    ("/bound", b"", b"curl/8.0", "POST"),
    ("/hello", b"", "Mozilla/5.0 (\u00e9t\u00e9)".encode("latin-1"), "GET"),
    ("/hello", b"", b"curl/8.0", "HEAD"),
    ("/missing", b"", b"curl/8.0", "GET"),
    ("/busy", b"", b"curl/8.0", "GET"),
    ("/" + "p" * 3000, b"", b"curl/8.0", "GET"),
]


TRACEPARENT = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every clock the records read returns a constant: two runs write the same bytes."""
    monkeypatch.setattr(time, "time_ns", lambda: 1_764_600_000_123_456_789)
    monkeypatch.setattr(time, "perf_counter_ns", lambda: 42_000_000)
    monkeypatch.setattr(asgi_obs._core, "_perf_ns", lambda: 41_000_000)


@pytest.fixture
def output(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    for name in ("LOG_LEVEL", "LOG_SUPPRESS_LOGGERS", "LOG_SUPPRESS_PATHS", "LOG_SCHEMA", "LOG_FORMAT"):
        monkeypatch.delenv(name, raising=False)
    stream = io.StringIO()
    init_structured_logging("INFO", stream=stream)
    yield stream
    root = logging.getLogger()
    for handler in root.handlers[:]:
        root.removeHandler(handler)


@pytest.fixture
def paths(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How many access records took each path (the direct write, or a LogRecord)."""
    counts = {"direct": 0, "record": 0}
    real_emit = asgi_obs.access_log.emit_record
    real_direct = asgi_obs.handler.JsonLineHandler.write_direct

    def emit(*args: Any, **kwargs: Any) -> None:
        counts["record"] += 1
        real_emit(*args, **kwargs)

    def direct(self: Any, *args: Any) -> None:
        counts["direct"] += 1
        real_direct(self, *args)

    monkeypatch.setattr(asgi_obs.access_log, "emit_record", emit)
    monkeypatch.setattr(asgi_obs.handler.JsonLineHandler, "write_direct", direct)
    return counts


async def _run_all(stack: Any) -> None:
    for path, query, agent, method in REQUESTS:
        headers = [(b"user-agent", agent), (b"x-request-id", b"fixed-id"), (b"traceparent", TRACEPARENT)]
        await call(stack, http_scope(path=path, query=query, method=method, headers=headers))
    ws = http_scope(path="/ws", headers=[(b"x-request-id", b"fixed-id"), (b"traceparent", TRACEPARENT)])
    ws["type"] = "websocket"
    messages = [{"type": "websocket.connect"}, {"type": "websocket.disconnect", "code": 1000}]
    await call(stack, ws, incoming=messages)


class _PassThrough(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return True


async def test_lines_are_byte_identical_on_both_paths(
    frozen_clock: None, output: io.StringIO, paths: dict[str, int]
) -> None:
    """The same requests, written directly and as LogRecords: the very same bytes."""
    stack = build_stack(app)
    await _run_all(stack)
    direct = output.getvalue()
    assert paths == {"direct": len(REQUESTS) + 1, "record": 0}
    output.seek(0)
    output.truncate()
    access = logging.getLogger("asgi_obs.access")
    access.addFilter(_PassThrough())  # nothing changes but the path
    try:
        await _run_all(stack)
    finally:
        access.filters.clear()
    assert paths == {"direct": len(REQUESTS) + 1, "record": len(REQUESTS) + 1}
    assert output.getvalue() == direct
    lines = [line for line in direct.splitlines() if '"logger":"asgi_obs.access"' in line]
    assert len(lines) == len(REQUESTS) + 1
    # The lines exercise the fallbacks: escaped separator, capped path, redacted query.
    assert "\\u2028" in lines[2] and "[REDACTED]" in lines[1] and '"...' not in lines[0]
    assert "WEBSOCKET /ws" in lines[-1]


async def test_a_change_to_the_setup_takes_effect_on_the_next_request(
    output: io.StringIO, paths: dict[str, int]
) -> None:
    """Each change a user can make is honoured at once, and undoing it restores the direct path."""
    stack = build_stack(app)
    access = logging.getLogger("asgi_obs.access")
    handler = logging.getLogger().handlers[0]

    async def one() -> str:
        output.seek(0)
        output.truncate()
        await call(stack, http_scope(path="/hello"))
        return output.getvalue()

    assert '"path":"/hello"' in await one()
    assert paths["direct"] == 1

    class Redact(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            record.path = "/[hidden]"
            return True

    # A filter on the logger sees (and may change) the record.
    access.addFilter(Redact())
    assert '"path":"/[hidden]"' in await one()
    access.filters.clear()
    # A filter added to the installed handler.
    handler.addFilter(Redact())
    assert '"path":"/[hidden]"' in await one()
    handler.filters.pop()
    # Another handler on the way up (here on asgi_obs): it gets the record, ours still writes.
    seen: list[logging.LogRecord] = []
    extra = logging.handlers.QueueHandler(queue.SimpleQueue())
    extra.emit = seen.append  # type: ignore[method-assign]
    logging.getLogger("asgi_obs").addHandler(extra)
    assert '"path":"/hello"' in await one()
    assert [r.getMessage() for r in seen] == ["GET /hello 200"]
    logging.getLogger("asgi_obs").removeHandler(extra)
    # A custom record factory: its attributes reach the line.
    factory = logging.getLogRecordFactory()

    def with_host(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        record.host = "web-1"
        return record

    logging.setLogRecordFactory(with_host)
    try:
        assert '"host":"web-1"' in await one()
    finally:
        logging.setLogRecordFactory(factory)
    # A different formatter on the handler.
    formatter = handler.formatter
    handler.setFormatter(logging.Formatter("plain %(message)s"))
    assert await one() == "plain GET /hello 200\n"
    handler.setFormatter(formatter)
    # A level on the handler above the record's.
    handler.setLevel(logging.WARNING)
    assert await one() == ""
    handler.setLevel(logging.NOTSET)
    # propagate=False on the way: nothing reaches the root handler (logging's lastResort
    # writes WARNING and above only).
    access.propagate = False
    try:
        assert await one() == ""
    finally:
        access.propagate = True
    # The logger disabled (dictConfig's disable_existing_loggers does it).
    access.disabled = True
    try:
        assert await one() == ""
    finally:
        access.disabled = False
    before = paths["direct"]
    assert '"path":"/hello"' in await one()
    assert paths["direct"] == before + 1  # everything undone: direct again


async def test_suppression_is_the_same_on_the_direct_path(
    monkeypatch: pytest.MonkeyPatch, paths: dict[str, int]
) -> None:
    """Paths, logger levels and message patterns drop the same access lines either way."""
    for name in ("LOG_SUPPRESS_LOGGERS", "LOG_SUPPRESS_PATHS"):
        monkeypatch.delenv(name, raising=False)
    suppress = SuppressUnwantedLogsFilter(paths=["/health"], patterns=[r"^GET /noise "], use_env=False)
    stream = io.StringIO()
    init_structured_logging("INFO", stream=stream, suppress=suppress)
    stack = build_stack(app)
    try:
        for path in ("/health", "/noise", "/hello", "/busy"):
            await call(stack, http_scope(path=path))
        messages = [line for line in stream.getvalue().splitlines() if "asgi_obs.access" in line]
        written = [m.split('"path":"')[1].split('"')[0] for m in messages]
        assert written == ["/hello", "/busy"]  # (a failure is never suppressed)
        assert paths == {"direct": 2, "record": 0}  # decided on the direct path ...
        stream.seek(0)
        stream.truncate()
        suppress._levels = {"asgi_obs.access": logging.WARNING}  # ... and a level threshold:
        suppress._threshold_cache.clear()
        await call(stack, http_scope(path="/hello"))  # INFO: dropped
        await call(stack, http_scope(path="/busy"))  # 503 is WARNING: kept
        access = [line for line in stream.getvalue().splitlines() if "asgi_obs.access" in line]
        assert len(access) == 1 and '"status":503' in access[0]
    finally:
        root = logging.getLogger()
        for handler in root.handlers[:]:
            root.removeHandler(handler)


async def test_schema_presets_take_the_full_path(paths: dict[str, int]) -> None:
    """A preset needs the record: no direct line, and the preset's layout is what is written."""
    stream = io.StringIO()
    init_structured_logging("INFO", stream=stream, schema="ecs")
    try:
        await call(build_stack(app), http_scope(path="/hello"))
    finally:
        root = logging.getLogger()
        for handler in root.handlers[:]:
            root.removeHandler(handler)
    assert paths == {"direct": 0, "record": 1}
    assert '"log.level":"info"' in stream.getvalue()


@pytest.mark.sentry
async def test_sentry_logging_integration_sees_the_access_record(paths: dict[str, int]) -> None:
    """With Sentry's logging integration (it patches Logger.callHandlers) the record is a
    LogRecord again: it becomes a breadcrumb of the request's event."""
    from . import sentry_support

    transport = sentry_support.MemoryTransport()
    stream = io.StringIO()
    init_structured_logging("INFO", stream=stream)
    sentry_support.init(transport)
    try:

        async def failing(scope: Any, receive: Any, send: Any) -> None:
            if scope["path"] == "/boom":
                raise RuntimeError("boom")
            await app(scope, receive, send)

        stack = build_stack(failing)
        await call(stack, http_scope(path="/hello"))
        await call(stack, http_scope(path="/boom"))
    finally:
        root = logging.getLogger()
        for handler in root.handlers[:]:
            root.removeHandler(handler)
    assert paths["direct"] == 0 and paths["record"] == 2
    (event,) = transport.events
    crumbs = [crumb.get("message") for crumb in event["breadcrumbs"]["values"]]
    assert "GET /boom 500" in crumbs, crumbs
    assert "GET /hello 200" not in crumbs  # another request's


async def test_patches_that_copy_the_name_still_see_the_record(
    output: io.StringIO, paths: dict[str, int]
) -> None:
    """A functools.wraps patch of Logger.callHandlers, or a method patched on the handler
    instance, sees every access record (the full path)."""
    import functools

    seen: list[str] = []
    original = logging.Logger.callHandlers

    @functools.wraps(original)
    def counting(self: logging.Logger, record: logging.LogRecord) -> None:
        seen.append(record.getMessage())
        original(self, record)

    stack = build_stack(app)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(logging.Logger, "callHandlers", counting)
        await call(stack, http_scope(path="/hello"))
    assert seen == ["GET /hello 200"] and paths["direct"] == 0
    handler = logging.getLogger().handlers[0]
    emitted: list[str] = []
    real_emit = type(handler).emit

    def emit(self: logging.Handler, record: logging.LogRecord) -> None:
        emitted.append(record.getMessage())
        real_emit(self, record)  # type: ignore[arg-type]

    with pytest.MonkeyPatch.context() as patch:  # patched on the class: seen
        patch.setattr(type(handler), "emit", emit)
        await call(stack, http_scope(path="/hello"))
    assert emitted == ["GET /hello 200"] and paths["direct"] == 0
    await call(stack, http_scope(path="/hello"))  # both undone: direct again
    assert paths["direct"] == 1
    assert output.getvalue().count('"message":"GET /hello 200"') == 3


async def test_limitation_a_method_patched_on_the_handler_instance_is_bypassed(
    output: io.StringIO, paths: dict[str, int]
) -> None:
    """Documented limitation: ``mock.patch.object(handler, "emit")`` on the installed handler's
    instance does not see access records written directly (the line is still written)."""
    handler = logging.getLogger().handlers[0]
    emitted: list[str] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(handler, "emit", lambda record: emitted.append(record.getMessage()))
        await call(build_stack(app), http_scope(path="/hello"))
    assert emitted == [] and paths["direct"] == 1
    assert '"message":"GET /hello 200"' in output.getvalue()


async def test_a_hand_built_handler_suppresses_on_the_direct_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """A JsonLineHandler put together by hand (its suppress filter not registered as
    ``suppress_filter``) drops the same lines directly as through its filters."""
    from asgi_obs import ContextFilter, CustomJsonFormatter, ServerDuplicateFilter
    from asgi_obs.handler import JsonLineHandler

    stream = io.StringIO()
    handler = JsonLineHandler(stream)
    handler.addFilter(SuppressUnwantedLogsFilter(paths=["/health"], use_env=False))
    handler.addFilter(ServerDuplicateFilter())
    handler.addFilter(ContextFilter())
    handler.setFormatter(CustomJsonFormatter())
    handler.allow_direct()
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    try:
        stack = build_stack(app)
        await call(stack, http_scope(path="/health"))
        await call(stack, http_scope(path="/hello"))
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1 and '"path":"/hello"' in lines[0]


async def test_a_level_renamed_later_is_written_the_same_on_both_paths(
    frozen_clock: None, output: io.StringIO
) -> None:
    """level_for's custom level, renamed with addLevelName after its first record: both paths
    write the same level name."""
    stack = build_stack(app, level_for=lambda status, outcome: 25)
    scope = {"path": "/hello", "headers": [(b"x-request-id", b"fixed"), (b"traceparent", TRACEPARENT)]}
    access = logging.getLogger("asgi_obs.access")
    for through_logging in (True, False):  # a first record on each path, then the rename
        if through_logging:
            access.addFilter(_PassThrough())
        await call(stack, http_scope(**scope))
        access.filters.clear()
    logging.addLevelName(25, "NOTICE")
    try:
        output.seek(0)
        output.truncate()
        await call(stack, http_scope(**scope))
        direct = output.getvalue()
        output.seek(0)
        output.truncate()
        access.addFilter(_PassThrough())
        try:
            await call(stack, http_scope(**scope))
        finally:
            access.filters.clear()
        assert output.getvalue() == direct
    finally:
        del logging._levelToName[25]  # type: ignore[attr-defined]
        del logging._nameToLevel["NOTICE"]  # type: ignore[attr-defined]
