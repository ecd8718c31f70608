"""init_structured_logging() and uvicorn_log_config(): one handler, one JSON line per record."""

from __future__ import annotations

import io
import json
import logging
import sys
import urllib.request

import pytest

from asgi_obs import ContextFilter, init_structured_logging, uvicorn_log_config

from .conftest import LogCapture
from .servers import run_python


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "LOG_LEVEL",
        "LOG_SUPPRESS_LOGGERS",
        "LOG_SUPPRESS_PATHS",
        "LOG_FORMAT",
        "LOG_SCHEMA",
        "LOG_ENQUEUE",
    ):
        monkeypatch.delenv(name, raising=False)


# LOG_LEVEL accepts names in any case and numbers; unset means INFO.
@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ("debug", logging.DEBUG),
        ("WARNING", logging.WARNING),
        ("10", 10),
        ("warn", logging.WARNING),
        (None, logging.INFO),
    ],
)
def test_level_from_environment(monkeypatch: pytest.MonkeyPatch, env: str | None, expected: int) -> None:
    """LOG_LEVEL sets the root level when no level is passed."""
    if env is not None:
        monkeypatch.setenv("LOG_LEVEL", env)
    init_structured_logging(stream=io.StringIO())
    assert logging.getLogger().level == expected


def test_invalid_level_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """LOG_LEVEL=loud is a ValueError naming LOG_LEVEL and the accepted values."""
    monkeypatch.setenv("LOG_LEVEL", "loud")
    with pytest.raises(ValueError, match=r"LOG_LEVEL='loud'.*CRITICAL, ERROR, WARNING, INFO, DEBUG"):
        init_structured_logging(stream=io.StringIO())
    with pytest.raises(ValueError, match="level='nope'"):
        init_structured_logging("nope", stream=io.StringIO())


def test_argument_beats_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """An explicit level wins over LOG_LEVEL."""
    monkeypatch.setenv("LOG_LEVEL", "ERROR")
    init_structured_logging("debug", stream=io.StringIO())
    assert logging.getLogger().level == logging.DEBUG


def test_idempotent_one_line_per_record() -> None:
    """Two calls leave one handler; one log call writes one line, to the second call's stream."""
    first, second = io.StringIO(), io.StringIO()
    init_structured_logging(stream=first)
    init_structured_logging(stream=second)
    root = logging.getLogger()
    assert len(root.handlers) == 1
    logging.getLogger("app").info("once")
    assert first.getvalue() == ""
    assert [json.loads(line)["message"] for line in second.getvalue().splitlines()] == ["once"]


def test_existing_handlers_removed_and_uvicorn_tamed() -> None:
    """Pre-existing root handlers go; uvicorn's loggers flow to root; uvicorn.access is silent."""
    root = logging.getLogger()
    root.addHandler(logging.StreamHandler(io.StringIO()))
    logging.getLogger("uvicorn.error").addHandler(logging.StreamHandler(io.StringIO()))
    capture = LogCapture()
    init_structured_logging(stream=capture.stream)
    assert len(root.handlers) == 1
    logging.getLogger("uvicorn.error").info("Started server process")
    logging.getLogger("uvicorn.access").info("127.0.0.1 - GET / 200")
    assert [(line["logger"], line["message"]) for line in capture.lines()] == [
        ("uvicorn.error", "Started server process")
    ]
    assert not logging.getLogger("uvicorn.access").hasHandlers()


def test_context_filter_never_raises_and_is_safe_twice() -> None:
    """Attaching ContextFilter to logger and handler neither fails nor changes values."""
    capture = LogCapture()
    init_structured_logging(stream=capture.stream)
    logger = logging.getLogger("twice")
    logger.addFilter(ContextFilter())
    try:
        logger.info("hello", extra={"request_id": "explicit"})
    finally:
        logger.filters.clear()
    (line,) = capture.lines()
    assert line["request_id"] == "explicit"


def test_uvicorn_log_config_is_json_serialisable() -> None:
    """The dict can be written to a file for `uvicorn --log-config`."""
    config = uvicorn_log_config("warning")
    assert json.loads(json.dumps(config)) == config
    assert config["root"]["level"] == logging.WARNING


def test_uvicorn_log_config_after_init_keeps_one_handler(monkeypatch: pytest.MonkeyPatch) -> None:
    """dictConfig(uvicorn_log_config()) after init_structured_logging(): one handler, one line."""
    import logging.config

    init_structured_logging(stream=io.StringIO())
    current = io.StringIO()
    monkeypatch.setattr(sys, "stdout", current)
    logging.config.dictConfig(uvicorn_log_config())
    root = logging.getLogger()
    assert len(root.handlers) == 1
    logging.getLogger("app").info("once")
    assert [json.loads(line)["message"] for line in current.getvalue().splitlines()] == ["once"]


def test_stale_stream_never_receives_a_later_config(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stream given to an earlier init_structured_logging() gets nothing from dictConfig."""
    import logging.config

    old = io.StringIO()
    init_structured_logging(stream=old, static_fields={"service": "old"})
    current = io.StringIO()
    monkeypatch.setattr(sys, "stdout", current)
    logging.config.dictConfig(uvicorn_log_config())
    logging.getLogger("app").info("after")
    assert old.getvalue() == ""
    (line,) = [json.loads(text) for text in current.getvalue().splitlines()]
    assert line["message"] == "after" and "service" not in line  # nor the old call's options


SERVER = """
import os, uvicorn
from asgi_obs import uvicorn_log_config

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})

uvicorn.run(app, host="127.0.0.1", port=int(os.environ["PORT"]), log_config=uvicorn_log_config())
"""


@pytest.mark.server
def test_real_uvicorn_accepts_the_config() -> None:
    """uvicorn started with uvicorn_log_config() writes JSON startup lines and no access lines."""
    with run_python(SERVER) as server:
        with urllib.request.urlopen(server.url + "/", timeout=5) as response:
            assert response.read() == b"ok"
        server.wait_for(lambda line: "Uvicorn running on" in line)
    lines = server.json_lines()  # every stdout line is JSON
    messages = [(line["logger"], line["message"]) for line in lines]
    assert ("uvicorn.error", "Application startup complete.") in messages
    assert any(message.startswith("Uvicorn running on http://127.0.0.1") for _, message in messages)
    assert not [line for line in lines if line["logger"] == "uvicorn.access"]
    assert all(line["request_id"] is None for line in lines)


def test_handler_filters_behave_like_logging() -> None:
    """Filters added to the installed handler work as in logging: objects, plain callables, veto."""
    capture = LogCapture()
    handler = init_structured_logging(stream=capture.stream)
    handler.addFilter(lambda record: record.levelno >= logging.WARNING)

    class Tag(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            record.tagged = True
            return True

    handler.addFilter(Tag())
    logging.getLogger("app").info("dropped")
    logging.getLogger("app").warning("kept")
    (line,) = capture.lines()
    assert (line["message"], line["tagged"]) == ("kept", True)


def test_registered_level_names_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    """FATAL and names registered with logging.addLevelName (TRACE) are valid LOG_LEVELs."""
    logging.addLevelName(5, "TRACE")
    monkeypatch.setenv("LOG_LEVEL", "trace")
    init_structured_logging(stream=io.StringIO())
    assert logging.getLogger().level == 5
    init_structured_logging("fatal", stream=io.StringIO())
    assert logging.getLogger().level == logging.CRITICAL


def test_suppress_true_builds_the_filter_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """suppress=True installs a SuppressUnwantedLogsFilter configured from LOG_SUPPRESS_*."""
    from asgi_obs import SuppressUnwantedLogsFilter

    handler = init_structured_logging(stream=io.StringIO(), suppress=True)
    assert [type(f) for f in handler.filters].count(SuppressUnwantedLogsFilter) == 1
    handler = init_structured_logging(stream=io.StringIO(), suppress=False)
    assert not [f for f in handler.filters if isinstance(f, SuppressUnwantedLogsFilter)]


# Each output option, invalid as an argument and as its environment variable.
@pytest.mark.parametrize(
    ("kwargs", "env", "match"),
    [
        ({"fmt": "xml"}, None, r"fmt='xml': expected one of json, console"),
        ({}, ("LOG_FORMAT", "yaml"), r"LOG_FORMAT='yaml'"),
        ({"schema": "splunk"}, None, r"schema='splunk': expected one of default, ecs, otel, gcp"),
        ({}, ("LOG_SCHEMA", "elk"), r"LOG_SCHEMA='elk'"),
        ({"enqueue": "yes"}, None, r"enqueue='yes'"),
        ({}, ("LOG_ENQUEUE", "maybe"), r"LOG_ENQUEUE='maybe'"),
        ({"max_line_bytes": 10}, None, r"max_line_bytes=10"),
    ],
)
def test_invalid_output_options_name_the_culprit(
    monkeypatch: pytest.MonkeyPatch, kwargs: dict[str, object], env: tuple[str, str] | None, match: str
) -> None:
    """An invalid fmt/schema/enqueue/max_line_bytes is a ValueError naming it; nothing changes."""
    if env is not None:
        monkeypatch.setenv(*env)
    before = init_structured_logging(stream=io.StringIO()) if env is None else None
    with pytest.raises(ValueError, match=match):
        init_structured_logging(stream=io.StringIO(), **kwargs)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=match):
        uvicorn_log_config(**kwargs)
    if before is not None:
        assert logging.getLogger().handlers == [before]


def test_output_options_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """LOG_FORMAT=json, LOG_SCHEMA=default, LOG_ENQUEUE=1 are honoured; an argument wins."""
    from asgi_obs.logging_config import LoggingOptions

    monkeypatch.setenv("LOG_FORMAT", "JSON")
    monkeypatch.setenv("LOG_SCHEMA", "default")
    monkeypatch.setenv("LOG_ENQUEUE", "1")
    options = LoggingOptions.resolve()
    assert (options.fmt, options.schema, options.enqueue) == ("json", "default", True)
    assert LoggingOptions.resolve(enqueue=False).enqueue is False
    capture = LogCapture()
    handler = init_structured_logging(stream=capture.stream)
    assert handler.enqueue
    logging.getLogger("app").info("queued")
    handler.flush()
    assert [line["message"] for line in capture.lines()] == ["queued"]


def test_uvicorn_log_config_carries_its_options(monkeypatch: pytest.MonkeyPatch) -> None:
    """The options are written into the handler entry, and dictConfig builds exactly that handler."""
    import logging.config

    config = uvicorn_log_config(static_fields={"service": "api"}, max_line_bytes=2048, enqueue=False)
    entry = config["handlers"]["default"]
    assert entry["static_fields"] == {"service": "api"} and entry["max_line_bytes"] == 2048
    assert (entry["fmt"], entry["schema"], entry["enqueue"]) == ("json", "default", False)
    assert json.loads(json.dumps(config)) == config
    current = io.StringIO()
    monkeypatch.setattr(sys, "stdout", current)
    logging.config.dictConfig(config)
    logging.getLogger("app").info("x" * 5000)
    (line,) = [json.loads(text) for text in current.getvalue().splitlines()]
    assert line["service"] == "api" and len(current.getvalue().encode()) <= 2048
    with pytest.raises(ValueError, match="stream"):
        uvicorn_log_config(stream=io.StringIO())


def test_installed_suppress_filter_follows_the_root_handler() -> None:
    """installed_suppress_filter() is the installed handler's filter; make_handler() alone changes nothing."""
    from asgi_obs import SuppressUnwantedLogsFilter
    from asgi_obs.logging_config import installed_suppress_filter, make_handler

    noise = SuppressUnwantedLogsFilter(patterns=["noise"])
    init_structured_logging(stream=io.StringIO(), suppress=noise)
    assert installed_suppress_filter() is noise
    make_handler(stream=io.StringIO(), suppress=False)  # built, not installed
    assert installed_suppress_filter() is noise
    init_structured_logging(stream=io.StringIO(), suppress=False)
    assert installed_suppress_filter() is None


def test_json_default_formatter_built_by_the_factory() -> None:
    """fmt="json", schema="default" (also from make_handler) builds CustomJsonFormatter with the options."""
    from asgi_obs import CustomJsonFormatter
    from asgi_obs.logging_config import LoggingOptions, build_formatter

    formatter = build_formatter(LoggingOptions.resolve(fmt="json", schema="default", static_fields={"a": 1}))
    assert type(formatter) is CustomJsonFormatter and formatter.static_fields == {"a": 1}


def test_enqueue_second_init_drains_the_first() -> None:
    """With enqueue=True a second init_structured_logging() writes every queued line first."""
    first = io.StringIO()
    init_structured_logging(stream=first, enqueue=True)
    for i in range(500):
        logging.getLogger("app").info("line %d", i)
    init_structured_logging(stream=io.StringIO())
    assert [json.loads(line)["message"] for line in first.getvalue().splitlines()] == [
        f"line {i}" for i in range(500)
    ]


def test_enqueue_full_queue_drops_and_reports_the_exact_count() -> None:
    """A full queue drops lines; one WARNING, once the writer caught up, gives their exact number."""
    import threading

    from asgi_obs._delivery import Sink
    from asgi_obs._enqueue import QueuedSink

    gate = threading.Event()

    class Slow(Sink):
        def write(self, text: str) -> None:
            gate.wait()  # the reader is stalled until the gate opens
            super().write(text)

    out = io.StringIO()
    sink = QueuedSink(Slow(out), lambda n: json.dumps({"dropped_lines": n}), max_chars=100 * 11)
    for i in range(300):
        sink.write(f"line {i:05d}")  # 10 characters + newline: 100 fit in the queue
    gate.set()
    sink.close()
    lines = out.getvalue().splitlines()
    written = [line for line in lines if line.startswith("line")]
    reports = [json.loads(line)["dropped_lines"] for line in lines if line.startswith("{")]
    assert len(written) + sum(reports) == 300 and sum(reports) > 0
    assert written == sorted(written)


def test_fmt_console_writes_readable_lines() -> None:
    """init_structured_logging(fmt="console") installs the console format on the one handler."""
    stream = io.StringIO()
    init_structured_logging(stream=stream, fmt="console")
    logging.getLogger("app").info("hello", extra={"user_id": 7})
    line = stream.getvalue()
    assert "hello" in line and "user_id=7" in line
    assert not line.lstrip().startswith("{")


def test_log_schema_env_picks_the_preset(monkeypatch: pytest.MonkeyPatch) -> None:
    """LOG_SCHEMA=ecs gives ECS lines (``@timestamp``, ``log.level``) without code changes."""
    monkeypatch.setenv("LOG_SCHEMA", "ecs")
    stream = io.StringIO()
    init_structured_logging(stream=stream)
    logging.getLogger("app").warning("careful")
    (line,) = [json.loads(text) for text in stream.getvalue().splitlines()]
    assert line["log.level"] == "warning" and "@timestamp" in line and line["message"] == "careful"


def test_uvicorn_log_config_carries_the_schema(monkeypatch: pytest.MonkeyPatch) -> None:
    """uvicorn_log_config(schema="gcp") through dictConfig writes Cloud Logging lines."""
    import contextlib
    import logging.config

    stream = io.StringIO()
    with contextlib.redirect_stdout(stream):
        logging.config.dictConfig(uvicorn_log_config(schema="gcp"))
        logging.getLogger("app").error("broken")
    (line,) = [json.loads(text) for text in stream.getvalue().splitlines()]
    assert line["severity"] == "ERROR" and line["message"].startswith("broken")


def test_enqueue_writer_survives_a_line_it_cannot_write(capsys: pytest.CaptureFixture[str]) -> None:
    """A stream failing in an unexpected way for one line never kills the writer: the next lines go out."""
    from asgi_obs._delivery import Sink
    from asgi_obs._enqueue import QueuedSink

    class Flaky(Sink):
        def write(self, text: str) -> None:
            if "boom" in text:
                raise RuntimeError("reentrant call")  # not an OSError: Sink itself lets it through
            super().write(text)

    out = io.StringIO()
    sink = QueuedSink(Flaky(out), lambda n: json.dumps({"dropped_lines": n}), max_chars=10_000)
    for text in ("one", "boom", "two"):
        sink.write(text)
    sink.close()
    assert out.getvalue().splitlines() == ["one", "two"]
    err = capsys.readouterr().err
    assert "RuntimeError: reentrant call" in err and "1 log lines were not written" in err


def test_a_lock_the_file_system_refuses_never_breaks_the_output(monkeypatch: pytest.MonkeyPatch) -> None:
    """flock failing (ENOLCK on some file systems) means writing unlocked, not losing every line."""
    import errno
    import os

    from asgi_obs import _delivery

    read_fd, write_fd = os.pipe()
    stream = os.fdopen(write_fd, "w")
    try:
        sink = _delivery.make_sink(stream)

        def refuse(*args: object) -> None:
            raise OSError(errno.ENOLCK, "No locks available")

        monkeypatch.setattr(_delivery.fcntl, "flock", refuse)
        sink.write("first")
        sink.write("second")
        assert os.read(read_fd, 100) == b"first\nsecond\n"
        assert sink.lost == 0
    finally:
        stream.close()
        os.close(read_fd)
