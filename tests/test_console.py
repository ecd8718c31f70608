"""ConsoleFormatter: readable lines, tracebacks as lines, colours only on a TTY, NO_COLOR."""

from __future__ import annotations

import io
import logging
import os
import re
from collections.abc import Iterator
from typing import IO, Any

import httpx
import pytest

from asgi_obs import ConsoleFormatter, build_stack, init_structured_logging

pytestmark = pytest.mark.anyio

ANSI = "\x1b["


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A raw ASGI app: ``/boom`` raises; anything else logs one line and answers 200."""
    if scope["type"] != "http":
        return
    if scope["path"] == "/boom":
        raise ValueError("boom!")
    logging.getLogger("app").info("hello %s", "world", extra={"user": "ann lee", "n": 3, "note": None})
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"hello"})


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("NO_COLOR", "LOG_LEVEL", "LOG_SUPPRESS_LOGGERS", "LOG_SUPPRESS_PATHS"):
        monkeypatch.delenv(name, raising=False)
    yield
    root = logging.getLogger()
    for handler in root.handlers[:]:
        root.removeHandler(handler)


async def run(formatter: logging.Formatter, stream: IO[str], *paths: str) -> None:
    init_structured_logging("INFO", stream=stream, formatter=formatter)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    transport = httpx.ASGITransport(app=build_stack(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        for path in paths:
            await http.get(path, headers={"X-Request-ID": "0123456789abcdef", "User-Agent": "ua test/1.0"})


async def test_one_readable_line_per_record() -> None:
    """Time, level, logger, message, short request id, then key=value fields (None left out)."""
    stream = io.StringIO()
    await run(ConsoleFormatter(stream=stream), stream, "/users/5?q=1")
    app_line, access_line = stream.getvalue().splitlines()
    assert re.fullmatch(
        r"\d\d:\d\d:\d\d\.\d{3} INFO     app hello world \[01234567\] user=\"ann lee\" n=3", app_line
    )
    prefix = re.match(
        r"\d\d:\d\d:\d\d\.\d{3} INFO     asgi_obs\.access GET /users/5 200 \[01234567\] ", access_line
    )
    assert prefix, access_line
    fields = dict(
        item.split("=", 1) for item in re.findall(r'\S+=(?:"[^"]*"|\S+)', access_line[prefix.end() :])
    )
    assert fields.pop("duration_ms").replace(".", "").isdigit()
    assert fields == {
        "method": "GET",
        "path": "/users/5",
        "query": '"q=1"',  # an = in a value is quoted, as logfmt does
        "status": "200",
        "request_bytes": "0",
        "response_bytes": "5",
        "client_ip": "127.0.0.1",
        "user_agent": '"ua test/1.0"',
        "http_version": "1.1",
        "outcome": "success",
    }
    assert ANSI not in stream.getvalue()  # a StringIO is not a terminal


async def test_traceback_as_real_lines() -> None:
    """The error record's traceback follows its line as real lines, not an escaped string."""
    stream = io.StringIO()
    await run(ConsoleFormatter(stream=stream), stream, "/boom")
    lines = stream.getvalue().splitlines()
    start = next(i for i, line in enumerate(lines) if " ERROR    asgi_obs.error " in line)
    assert "error_type=ValueError" in lines[start] and "error_message=boom!" in lines[start]
    assert lines[start + 1] == "Traceback (most recent call last):"
    end = lines.index("ValueError: boom!")
    assert end > start + 2 and all(line.startswith("  ") for line in lines[start + 2 : end])
    assert " WARNING  asgi_obs.access GET /boom 500 " in lines[end + 1]


def _tty() -> tuple[IO[str], int]:
    master, replica = os.openpty()
    return os.fdopen(replica, "w"), master


def test_colours_on_a_tty_only_without_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    """A TTY gets colours; NO_COLOR with any non-empty value turns them off; empty does not."""
    tty, master = _tty()
    try:
        assert ConsoleFormatter(stream=tty).colors is True
        monkeypatch.setenv("NO_COLOR", "")
        assert ConsoleFormatter(stream=tty).colors is True  # no-color.org: only non-empty counts
        monkeypatch.setenv("NO_COLOR", "1")
        assert ConsoleFormatter(stream=tty).colors is False
        record = logging.LogRecord("app", logging.WARNING, __file__, 1, "m", None, None)
        assert ANSI not in ConsoleFormatter(stream=tty).format(record)
    finally:
        tty.close()
        os.close(master)
    monkeypatch.delenv("NO_COLOR")
    assert ConsoleFormatter(stream=io.StringIO()).colors is False


async def test_forced_colours() -> None:
    """colors=True colours a non-TTY stream: level, logger, keys; colors=False never does."""
    stream = io.StringIO()
    await run(ConsoleFormatter(colors=True, stream=stream), stream, "/x", "/boom")
    text = stream.getvalue()
    assert "\x1b[32mINFO    \x1b[0m" in text and "\x1b[31mERROR   \x1b[0m" in text
    assert "\x1b[36muser\x1b[0m=" in text
    record = logging.LogRecord("app", logging.ERROR, __file__, 1, "m", None, None)
    tty, master = _tty()
    try:
        assert ANSI not in ConsoleFormatter(colors=False, stream=tty).format(record)
    finally:
        tty.close()
        os.close(master)


def test_never_raises_and_quotes_awkward_values() -> None:
    """A broken value renders as text, bad % arguments keep the raw message, quotes escape."""

    class Broken:
        def __str__(self) -> str:
            raise RuntimeError("no str")

        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    formatter = ConsoleFormatter(colors=False)
    record = logging.LogRecord("app", logging.INFO, __file__, 1, "x=%d", ("not a number",), None)
    record.__dict__.update({"obj": Broken(), "text": 'say "hi"\nbye', "empty": ""})
    line = formatter.format(record)
    assert "x=%d [unformattable arguments:" in line
    assert 'obj="<unrepresentable Broken>"' in line
    assert 'text="say \\"hi\\"\\nbye"' in line and 'empty=""' in line
    assert "\n" not in line
