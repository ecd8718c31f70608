"""CustomJsonFormatter: one valid JSON line per record, whatever the record holds."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import re
from typing import Any

import pytest

from asgi_obs import CustomJsonFormatter, request_id_var, trace_id_var
from asgi_obs.logging_config import make_handler

ISO_UTC_MICRO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$")


def _logger(formatter: logging.Formatter | None = None, **options: Any) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = make_handler(stream=stream, formatter=formatter, **options)
    logger = logging.getLogger(f"test.formatter.{id(stream)}")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger, stream


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    text = stream.getvalue()
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


# Both encoders must behave the same: orjson when installed, the stdlib otherwise.
ENCODERS = [pytest.param(False, id="stdlib-json"), pytest.param(True, id="orjson")]


@pytest.mark.parametrize("use_orjson", ENCODERS)
def test_record_layout(use_orjson: bool) -> None:
    """The contract keys come first, in order, with extras at top level and no exc_info."""
    logger, stream = _logger(use_orjson=use_orjson)
    logger.info("User %s logged in", "ann", extra={"user_id": 42})
    (line,) = _lines(stream)
    assert list(line)[:6] == ["timestamp", "level", "logger", "message", "request_id", "trace_id"]
    assert ISO_UTC_MICRO.match(line["timestamp"]), line["timestamp"]
    assert line["level"] == "INFO"
    assert line["logger"] == logger.name
    assert line["message"] == "User ann logged in"
    assert line["request_id"] is None and line["trace_id"] is None
    assert line["user_id"] == 42
    assert "exc_info" not in line


@pytest.mark.parametrize("use_orjson", ENCODERS)
def test_ids_from_context_variables(use_orjson: bool) -> None:
    """Inside a context where the ids are set they appear; outside they are null."""
    logger, stream = _logger(use_orjson=use_orjson)
    rid = request_id_var.set("req-1")
    tid = trace_id_var.set("ab" * 16)
    try:
        logger.warning("inside")
    finally:
        trace_id_var.reset(tid)
        request_id_var.reset(rid)
    logger.warning("outside")
    inside, outside = _lines(stream)
    assert (inside["request_id"], inside["trace_id"]) == ("req-1", "ab" * 16)
    assert (outside["request_id"], outside["trace_id"]) == (None, None)


@pytest.mark.parametrize("use_orjson", ENCODERS)
def test_unicode_and_awkward_values(use_orjson: bool) -> None:
    """Non-ASCII stays UTF-8; datetime is ISO 8601; a set and a broken object become strings."""

    class Broken:
        def __str__(self) -> str:
            raise RuntimeError("no str")

        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    when = dt.datetime(2026, 11, 28, 10, 17, 21, 123456, tzinfo=dt.timezone.utc)
    logger, stream = _logger(use_orjson=use_orjson)
    logger.info(
        "Grüße, 世界 ✓",
        extra={"when": when, "tags": {"a"}, "broken": Broken(), "big": 2**70, "raw": b"\xff"},
    )
    assert "Grüße, 世界 ✓" in stream.getvalue()  # not \u-escaped
    (line,) = _lines(stream)
    assert line["message"] == "Grüße, 世界 ✓"
    assert line["when"] == "2026-11-28T10:17:21.123456+00:00"
    assert line["tags"] == "{'a'}"
    assert line["broken"] == "<unrepresentable Broken>"
    assert int(line["big"]) == 2**70


@pytest.mark.parametrize("use_orjson", ENCODERS)
def test_lone_surrogate_and_bad_arguments_keep_the_line(use_orjson: bool) -> None:
    """A string JSON/UTF-8 refuses and a message whose %-arguments do not fit still log."""
    logger, stream = _logger(use_orjson=use_orjson)
    logger.info("bad \udcff value", extra={"path": "/x\udcff"})
    logger.info("count=%d", "not a number")
    first, second = _lines(stream)
    assert first["message"].startswith("bad ")
    assert second["message"].startswith("count=%d [unformattable arguments")


@pytest.mark.parametrize("use_orjson", ENCODERS)
def test_exception_traceback(use_orjson: bool) -> None:
    """A record with an exception carries its formatted traceback under exc_info."""
    logger, stream = _logger(use_orjson=use_orjson)
    try:
        raise ValueError("bad input")
    except ValueError:
        logger.exception("failed")
    (line,) = _lines(stream)
    assert line["level"] == "ERROR"
    assert line["exc_info"].startswith("Traceback (most recent call last):")
    assert line["exc_info"].rstrip().endswith("ValueError: bad input")


def test_rename_and_static_fields() -> None:
    """rename_fields and static_fields keep python-json-logger's meaning."""
    formatter = CustomJsonFormatter(
        rename_fields={"level": "severity", "message": "msg"}, static_fields={"service": "billing"}
    )
    logger, stream = _logger(formatter=formatter)
    logger.error("down")
    (line,) = _lines(stream)
    assert line["severity"] == "ERROR" and "level" not in line
    assert line["msg"] == "down"
    assert line["service"] == "billing"


def test_dict_message_is_merged() -> None:
    """Logging a dict (python-json-logger's idiom) puts its keys at top level."""
    logger, stream = _logger()
    logger.info({"event": "signup", "plan": "pro"})
    (line,) = _lines(stream)
    assert (line["event"], line["plan"], line["message"]) == ("signup", "pro", "")


def test_formatter_is_a_python_json_logger_formatter() -> None:
    """CustomJsonFormatter subclasses python-json-logger's JsonFormatter (not the old module)."""
    from pythonjsonlogger.json import JsonFormatter

    assert issubclass(CustomJsonFormatter, JsonFormatter)


def test_orjson_forced_without_orjson_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """Asking for orjson where it is missing fails at construction, with the fix in the text."""
    import asgi_obs.formatter as formatter_module

    monkeypatch.setattr(formatter_module, "ORJSON", None)
    with pytest.raises(ValueError, match="pip install orjson"):
        CustomJsonFormatter(use_orjson=True)
    assert CustomJsonFormatter()._orjson is None  # and the default falls back silently


@pytest.mark.parametrize("use_orjson", ENCODERS)
def test_nan_and_infinity_stay_valid_json(use_orjson: bool) -> None:
    """NaN and Infinity are not JSON: both encoders write null (the line stays parseable)."""
    logger, stream = _logger(use_orjson=use_orjson)
    logger.info("ratio", extra={"ratio": float("nan"), "limit": float("inf"), "ok": 1.5})
    (line,) = _lines(stream)
    assert (line["ratio"], line["limit"], line["ok"]) == (None, None, 1.5)


def test_rebuilt_record_is_formatted_from_its_attributes() -> None:
    """A plain LogRecord rebuilt from an access record's __dict__ (logging.makeLogRecord, the
    SocketHandler receiving side) shows its current attributes, not the fields it was built from."""
    from asgi_obs._emit import FAST_PATH_KEY, _new_record

    original = _new_record("asgi_obs.access", logging.INFO, "GET /users/5 200", None)
    fields = {"path": "/users/5", "status": 200}
    original.__dict__.update(fields)
    original.__dict__[FAST_PATH_KEY] = (fields, len(original.__dict__) + 1)
    rebuilt = logging.makeLogRecord(original.__dict__)
    rebuilt.path = "/users/[id]"  # type: ignore[attr-defined]
    line = json.loads(CustomJsonFormatter().format(rebuilt))
    assert (line["path"], line["status"]) == ("/users/[id]", 200)
