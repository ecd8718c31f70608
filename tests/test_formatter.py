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


@pytest.mark.parametrize("use_orjson", ENCODERS)
def test_non_str_keys_keep_the_line(use_orjson: bool) -> None:
    """extra={1: ...}, {None: ...} and a tuple key give one line, the keys rendered with str()."""
    logger, stream = _logger(use_orjson=use_orjson)
    logger.info("int", extra={1: "x"})
    logger.info("none", extra={None: 1})
    logger.info("tuple", extra={(1, 2): "t", "nested": {3: "n"}})
    one, none, pair = _lines(stream)
    assert one["1"] == "x"
    assert none["None"] == 1
    assert pair["(1, 2)"] == "t" and pair["nested"] == {"3": "n"}


def _emit_access(logger: logging.Logger, path: str) -> None:
    from asgi_obs._emit import emit_record

    emit_record(
        logger, logging.INFO, f"GET {path} 200", {"method": "GET", "path": path, "status": 200}, kind="access"
    )


# The formatter's fast path (a layer's record) and its general path (logger.info).
PATHS = [pytest.param(True, id="layer-record"), pytest.param(False, id="logger-call")]


@pytest.mark.parametrize("use_orjson", ENCODERS)
@pytest.mark.parametrize("layer", PATHS)
def test_line_separators_escaped(use_orjson: bool, layer: bool) -> None:
    """U+2028, U+2029 and U+0085 are written as escapes: the line stays one line for everyone."""
    logger, stream = _logger(use_orjson=use_orjson)
    path = "/a\u2028b\u2029c\x85d-é"
    if layer:
        _emit_access(logger, path)
    else:
        logger.info("sep", extra={"path": path})
    text = stream.getvalue()
    assert "\\u2028" in text and "\\u2029" in text and "\\u0085" in text and "é" in text
    assert len(text.splitlines()) == 1  # str.splitlines() splits on all three
    assert json.loads(text)["path"] == path


def _deep_failure(depth: int) -> None:
    if depth == 0:
        raise ValueError("at the bottom")
    _deeper(depth - 1)  # alternating frames: Python does not fold them into "repeated N times"


def _deeper(depth: int) -> None:
    _deep_failure(depth)


@pytest.mark.parametrize("use_orjson", ENCODERS)
def test_long_record_cut_to_max_line_bytes(use_orjson: bool) -> None:
    """A record over max_line_bytes is cut inside its longest fields; the traceback keeps head and tail."""
    logger, stream = _logger(use_orjson=use_orjson, max_line_bytes=8192)
    try:
        _deep_failure(100)
    except ValueError:
        logger.exception("boom", extra={"big": "é" * 20_000, "ids": list(range(5000)), "user_id": 7})
    text = stream.getvalue()
    assert len(text.encode()) <= 8192
    (line,) = _lines(stream)
    assert (line["message"], line["user_id"], line["level"]) == ("boom", 7, "ERROR")
    assert line["exc_info"].startswith("Traceback (most recent call last):")
    assert line["exc_info"].endswith("ValueError: at the bottom")
    for field in ("exc_info", "big", "ids"):
        assert "characters cut to fit max_line_bytes" in line[field], field
    assert line["big"].startswith("éé") and line["big"].endswith("éé")


@pytest.mark.parametrize("use_orjson", ENCODERS)
def test_long_layer_record_cut(use_orjson: bool) -> None:
    """A layer's record with a huge path (the fast path) is cut the same way."""
    logger, stream = _logger(use_orjson=use_orjson, max_line_bytes=4096)
    _emit_access(logger, "/" + "p" * 100_000)
    assert len(stream.getvalue().encode()) <= 4096
    (line,) = _lines(stream)
    assert line["status"] == 200 and "characters cut" in line["path"]


def test_many_small_fields_still_fit() -> None:
    """Thousands of small fields: the first keys are kept and the line says how many were dropped."""
    logger, stream = _logger(max_line_bytes=2048)
    logger.info("wide", extra={f"k{i}": i for i in range(3000)})
    assert len(stream.getvalue().encode()) <= 2048
    (line,) = _lines(stream)
    assert line["message"] == "wide" and "fields dropped to fit max_line_bytes" in line["truncated"]


def test_max_line_bytes_validated() -> None:
    """max_line_bytes below 1024 or not an int is a ValueError naming it."""
    for bad in (100, "64k", True):
        with pytest.raises(ValueError, match="max_line_bytes"):
            CustomJsonFormatter(max_line_bytes=bad)  # type: ignore[arg-type]
