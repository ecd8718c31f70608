"""Schema presets: ECS as ecs-logging writes it, OpenTelemetry and Google Cloud field by field."""

from __future__ import annotations

import copy
import datetime as dt
import io
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import ecs_logging
import httpx
import pytest

from asgi_obs import CustomJsonFormatter, build_stack, init_structured_logging, outgoing_headers
from asgi_obs.fields import ACCESS_FIELDS

pytestmark = pytest.mark.anyio

SERVICE_ENVS = (
    "OTEL_SERVICE_NAME",
    "SERVICE_NAME",
    "SERVICE_VERSION",
    "SERVICE_ENVIRONMENT",
    "GOOGLE_CLOUD_PROJECT",
)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A raw ASGI app: ``/boom`` raises, ``/503`` returns a 503, ``/404`` a 404, else 200."""
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path == "/boom":
        raise ValueError("boom!")
    logging.getLogger("app").info(
        "hello %s", "world", extra={"user_id": 42, "plan": "pro plan", "cart.items": 3}
    )
    traceparent = outgoing_headers()["traceparent"]
    status = {"/503": 503, "/404": 404}.get(path, 200)
    await send(
        {"type": "http.response.start", "status": status, "headers": [(b"x-tp", traceparent.encode())]}
    )
    await send({"type": "http.response.body", "body": b"hello"})


class _Keep(logging.Handler):
    """Keeps every record the root logger handles, to format it again with ecs-logging."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@dataclass
class Run:
    lines: list[dict[str, Any]]
    records: list[logging.LogRecord]
    responses: list[httpx.Response] = field(default_factory=list)

    def by_logger(self, name: str) -> list[dict[str, Any]]:
        return [line for line in self.lines if _logger_of(line) == name]

    def record(self, name: str) -> logging.LogRecord:
        return next(r for r in self.records if r.name == name)


def _logger_of(line: dict[str, Any]) -> str:
    if "log" in line:
        return str(line["log"]["logger"])
    if "scope" in line:
        return str(line["scope"]["name"])
    return str(line["logger"])


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in (*SERVICE_ENVS, "LOG_LEVEL", "LOG_SUPPRESS_LOGGERS", "LOG_SUPPRESS_PATHS"):
        monkeypatch.delenv(name, raising=False)
    yield
    root = logging.getLogger()
    for handler in root.handlers[:]:
        root.removeHandler(handler)


async def run(schema: str, *paths: str, headers: dict[str, str] | None = None) -> Run:
    """Requests through build_stack(app), logged by init_structured_logging with ``schema``."""
    stream = io.StringIO()
    init_structured_logging("DEBUG", stream=stream, formatter=CustomJsonFormatter(schema=schema))
    logging.getLogger("httpx").setLevel(logging.WARNING)
    keep = _Keep()
    logging.getLogger().addHandler(keep)
    responses = []
    transport = httpx.ASGITransport(app=build_stack(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        for path in paths:
            responses.append(await http.get(path, headers=headers or {"User-Agent": "ua test/1.0"}))
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    return Run(lines, keep.records, responses)


def test_unknown_schema_is_a_value_error() -> None:
    """An unknown schema name fails at construction, naming the option."""
    with pytest.raises(ValueError, match=r"schema='elastic'.*default, ecs, otel, gcp"):
        CustomJsonFormatter(schema="elastic")


async def test_default_schema_is_the_unchanged_default() -> None:
    """schema="default" writes exactly what a formatter without the option writes."""
    result = await run("default", "/x?a=1", "/boom")
    plain, explicit = CustomJsonFormatter(), CustomJsonFormatter(schema="default")
    assert len(result.records) == 4  # app record, access, error, access
    for record in result.records:
        assert explicit.format(copy.copy(record)) == plain.format(copy.copy(record))
    assert list(result.lines[1])[:6] == ["timestamp", "level", "logger", "message", "request_id", "trace_id"]


# --- ECS ----------------------------------------------------------------------------------------

# Keys ecs-logging computes from the record itself; every other key of ours is fed to it as a
# dotted ``extra=`` name, which it nests: the two outputs must then be the same object.
_ECS_OWN = {"@timestamp", "log.level", "message", "ecs.version", "log.logger", "error.type", "error.message"}


def _flatten(value: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, item in value.items():
        name = key if key == "ecs.version" or key == "log.level" else f"{prefix}{key}"
        if isinstance(item, dict):
            flat.update(_flatten(item, f"{name}."))
        else:
            flat[name] = item
    return flat


def ecs_logging_line(record: logging.LogRecord, ours: dict[str, Any]) -> dict[str, Any]:
    """What ecs_logging.StdlibFormatter writes for ``record`` given our fields as extras."""
    theirs = logging.makeLogRecord(
        {
            "name": record.name,
            "levelno": record.levelno,
            "levelname": record.levelname,
            "msg": record.getMessage(),
            "created": record.created,
            "msecs": record.msecs,
            "exc_info": record.exc_info,
        }
    )
    extras = {k: v for k, v in _flatten(ours).items() if k not in _ECS_OWN and k != "error.stack_trace"}
    theirs.__dict__.update(extras)
    formatter = ecs_logging.StdlibFormatter(exclude_fields=["log.origin", "log.original", "process"])
    return dict(json.loads(formatter.format(theirs)))


def _ms(text: str) -> dt.datetime:
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", text), text
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def assert_same_as_ecs_logging(ours: dict[str, Any], record: logging.LogRecord) -> dict[str, Any]:
    theirs = ecs_logging_line(record, ours)
    # Same keys, nesting and values; ecs.version is ours (see schemas.ecs.ECS_VERSION), the
    # timestamps the same millisecond (both truncate; their msecs and our microseconds may
    # straddle a millisecond boundary by float rounding); ecs-logging's stack trace is the
    # frames only, ours the full traceback (with the exception line and any chained cause).
    assert abs(_ms(ours["@timestamp"]) - _ms(theirs["@timestamp"])) <= dt.timedelta(milliseconds=1)
    assert (theirs["ecs.version"], ours["ecs.version"]) == ("1.6.0", "8.11.0")
    mine = copy.deepcopy(ours)
    if "error" in theirs and "stack_trace" in theirs["error"]:
        assert theirs["error"].pop("stack_trace") in mine["error"].pop("stack_trace")
    for key in ("@timestamp", "ecs.version"):
        del mine[key], theirs[key]
    assert mine == theirs
    assert list(ours)[:3] == ["@timestamp", "log.level", "message"]  # ecs-logging's order
    return theirs


async def test_ecs_access_record_as_ecs_logging_writes_it() -> None:
    """The access record: ECS names and nesting, ns duration, as ecs-logging nests them."""
    result = await run(
        "ecs", "/users/5?q=1&token=s3cret", headers={"User-Agent": "ua test/1.0", "X-Request-ID": "r-1"}
    )
    (line,) = result.by_logger("asgi_obs.access")
    assert_same_as_ecs_logging(line, result.record("asgi_obs.access"))
    default = json.loads(CustomJsonFormatter().format(copy.copy(result.record("asgi_obs.access"))))
    assert line["log.level"] == "info" and line["log"] == {"logger": "asgi_obs.access"}
    assert line["http"]["request"] == {"id": "r-1", "method": "GET", "body": {"bytes": 0}}
    assert line["http"]["response"] == {"status_code": 200, "body": {"bytes": 5}}
    assert line["http"]["version"] == "1.1"
    assert line["url"] == {"path": "/users/5", "query": "q=1&token=[REDACTED]"}
    assert line["client"] == {"ip": "127.0.0.1"}
    assert line["user_agent"] == {"original": "ua test/1.0"}
    assert line["trace"] == {"id": default["trace_id"]}
    assert line["event"] == {"duration": round(default["duration_ms"] * 1_000_000), "outcome": "success"}
    assert isinstance(line["event"]["duration"], int)
    assert line["outcome"] == "success"
    # No default-schema name left ("user_agent" is also an ECS object, checked above).
    assert not (set(ACCESS_FIELDS) - {"outcome", "route", "user_agent"}) & set(line)


async def test_ecs_app_record_keeps_extras_at_top_level() -> None:
    """A logger.info(extra=...) record: extras top level, ids as trace.id/http.request.id."""
    result = await run("ecs", "/x")
    (line,) = result.by_logger("app")
    assert_same_as_ecs_logging(line, result.record("app"))
    assert line["message"] == "hello world"
    assert (line["user_id"], line["plan"]) == (42, "pro plan")
    assert line["cart"] == {"items": 3}  # a dotted name nested, as ecs-logging does
    assert set(line["http"]["request"]) == {"id"}


async def test_ecs_error_record_with_traceback() -> None:
    """The error record: error.type/message/stack_trace as ecs-logging writes them."""
    result = await run("ecs", "/boom")
    (line,) = result.by_logger("asgi_obs.error")
    theirs = assert_same_as_ecs_logging(line, result.record("asgi_obs.error"))
    assert theirs["error"]["type"] == line["error"]["type"] == "ValueError"
    assert theirs["error"]["message"] == line["error"]["message"] == "boom!"
    stack = line["error"]["stack_trace"]
    assert stack.startswith("Traceback (most recent call last):") and stack.endswith("ValueError: boom!")
    assert line["log.level"] == "error"
    assert line["http"]["response"]["status_code"] == 500


@pytest.mark.parametrize(
    # our outcome -> ECS event.outcome (a 4xx is a success for the server, as Elastic APM says)
    ("path", "outcome", "ecs_outcome"),
    [("/x", "success", "success"), ("/404", "client_error", "success"), ("/503", "server_error", "failure")],
)
async def test_ecs_event_outcome_is_one_of_the_allowed_values(
    path: str, outcome: str, ecs_outcome: str
) -> None:
    """event.outcome is success/failure/unknown; our detailed outcome stays in ``outcome``."""
    result = await run("ecs", path)
    (line,) = result.by_logger("asgi_obs.access")
    assert (line["event"]["outcome"], line["outcome"]) == (ecs_outcome, outcome)


async def test_ecs_service_identity_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """SERVICE_NAME/VERSION/ENVIRONMENT become service.name/version/environment."""
    monkeypatch.setenv("SERVICE_NAME", "billing")
    monkeypatch.setenv("SERVICE_VERSION", "1.4.2")
    monkeypatch.setenv("SERVICE_ENVIRONMENT", "staging")
    result = await run("ecs", "/x")
    for line in result.lines:
        assert line["service"] == {"name": "billing", "version": "1.4.2", "environment": "staging"}


# --- OpenTelemetry ------------------------------------------------------------------------------


async def test_otel_access_record_fields() -> None:
    """Log data model fields at the top, HTTP semantic-convention names in attributes."""
    result = await run("otel", "/users/5?q=1", headers={"User-Agent": "ua test/1.0", "X-Request-ID": "r-2"})
    (line,) = result.by_logger("asgi_obs.access")
    record = result.record("asgi_obs.access")
    assert list(line)[:4] == ["time_unix_nano", "severity_text", "severity_number", "body"]
    assert abs(line["time_unix_nano"] - int(record.created * 1e9)) < 1000
    assert (line["severity_text"], line["severity_number"], line["body"]) == ("INFO", 9, "GET /users/5 200")
    # The span id is the request's, the parent id it announces downstream in traceparent.
    _, trace_id, span_id, _ = result.responses[0].headers["x-tp"].split("-")
    assert (line["trace_id"], line["span_id"]) == (trace_id, span_id)
    attributes = line["attributes"]
    assert {k: v for k, v in attributes.items() if k != "duration_ms"} == {
        "request_id": "r-2",
        "http.request.method": "GET",
        "url.path": "/users/5",
        "url.query": "q=1",
        "http.response.status_code": 200,
        "http.request.body.size": 0,
        "http.response.body.size": 5,
        "client.address": "127.0.0.1",
        "user_agent.original": "ua test/1.0",
        "network.protocol.version": "1.1",
        "outcome": "success",
    }
    assert line["scope"] == {"name": "asgi_obs.access"}
    assert line["resource"]["service.name"].startswith("unknown_service:")  # the SDK's default


@pytest.mark.parametrize(
    # the log data model's SeverityNumber for each standard level
    ("level", "number"),
    [
        (logging.DEBUG, 5),
        (logging.INFO, 9),
        (logging.WARNING, 13),
        (logging.ERROR, 17),
        (logging.CRITICAL, 21),
    ],
)
def test_otel_severity_numbers(level: int, number: int) -> None:
    """DEBUG 5, INFO 9, WARN 13, ERROR 17, FATAL 21; severity_text is the level name."""
    record = logging.LogRecord("app", level, __file__, 1, "m", None, None)
    line = json.loads(CustomJsonFormatter(schema="otel").format(record))
    assert (line["severity_number"], line["severity_text"]) == (number, logging.getLevelName(level))
    assert "trace_id" not in line and "span_id" not in line  # outside a request


async def test_otel_error_record_has_exception_attributes() -> None:
    """exception.type/message/stacktrace attributes (semantic conventions) on the error record."""
    result = await run("otel", "/boom")
    (line,) = result.by_logger("asgi_obs.error")
    attributes = line["attributes"]
    assert (line["severity_text"], line["severity_number"]) == ("ERROR", 17)
    assert (attributes["exception.type"], attributes["exception.message"]) == ("ValueError", "boom!")
    assert attributes["exception.stacktrace"].startswith("Traceback (most recent call last):")
    assert attributes["exception.stacktrace"].endswith("ValueError: boom!")
    assert attributes["http.response.status_code"] == 500


async def test_otel_resource_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """OTEL_SERVICE_NAME wins over SERVICE_NAME; version and environment join the resource."""
    monkeypatch.setenv("OTEL_SERVICE_NAME", "otel-name")
    monkeypatch.setenv("SERVICE_NAME", "plain-name")
    monkeypatch.setenv("SERVICE_VERSION", "2.0")
    monkeypatch.setenv("SERVICE_ENVIRONMENT", "prod")
    result = await run("otel", "/x")
    expected = {"service.name": "otel-name", "service.version": "2.0", "deployment.environment.name": "prod"}
    assert all(line["resource"] == expected for line in result.lines)


# --- Google Cloud -------------------------------------------------------------------------------


async def test_gcp_access_record_http_request(monkeypatch: pytest.MonkeyPatch) -> None:
    """httpRequest as the LogEntry API defines it; trace as projects/P/traces/T; spanId."""
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "my-proj")
    result = await run("gcp", "/users/5?q=1&token=x", headers={"User-Agent": "ua test/1.0"})
    (line,) = result.by_logger("asgi_obs.access")
    default = json.loads(CustomJsonFormatter().format(copy.copy(result.record("asgi_obs.access"))))
    _, trace_id, span_id, _ = result.responses[0].headers["x-tp"].split("-")
    assert line["severity"] == "INFO" and line["message"] == "GET /users/5 200"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", line["time"])
    assert line["logging.googleapis.com/trace"] == f"projects/my-proj/traces/{trace_id}"
    assert line["logging.googleapis.com/spanId"] == span_id
    latency = line["httpRequest"].pop("latency")
    assert re.fullmatch(r"\d+(\.\d{1,6})?s", latency) and float(latency[:-1]) == pytest.approx(
        default["duration_ms"] / 1000, abs=1e-6
    )
    assert line["httpRequest"] == {
        "requestMethod": "GET",
        "requestUrl": "/users/5?q=1&token=[REDACTED]",
        "status": 200,
        "userAgent": "ua test/1.0",
        "remoteIp": "127.0.0.1",
        "protocol": "HTTP/1.1",
        "requestSize": "0",
        "responseSize": "5",
    }
    assert not {"method", "path", "status", "duration_ms", "user_agent"} & set(line)
    assert "@type" not in line and "serviceContext" not in line


async def test_gcp_trace_without_a_project_is_the_bare_trace_id() -> None:
    """Without GOOGLE_CLOUD_PROJECT the trace field is just the trace id."""
    result = await run("gcp", "/x")
    _, trace_id, _, _ = result.responses[0].headers["x-tp"].split("-")
    assert {line["logging.googleapis.com/trace"] for line in result.lines} == {trace_id}


async def test_gcp_error_records_reach_error_reporting(monkeypatch: pytest.MonkeyPatch) -> None:
    """A traceback goes to stack_trace; an ERROR without one carries the ReportedErrorEvent @type."""
    monkeypatch.setenv("SERVICE_NAME", "billing")
    monkeypatch.setenv("SERVICE_VERSION", "1.0")
    monkeypatch.setenv("SERVICE_ENVIRONMENT", "prod")
    result = await run("gcp", "/boom", "/503")
    with_traceback, without = result.by_logger("asgi_obs.error")
    assert with_traceback["severity"] == "ERROR"
    assert with_traceback["stack_trace"].startswith("Traceback (most recent call last):")
    assert with_traceback["stack_trace"].endswith("ValueError: boom!")
    assert "@type" not in with_traceback
    assert "stack_trace" not in without
    assert (
        without["@type"]
        == "type.googleapis.com/google.devtools.clouderrorreporting.v1beta1.ReportedErrorEvent"
    )
    for line in result.lines:
        assert line["serviceContext"] == {"service": "billing", "version": "1.0"}
        assert line["logging.googleapis.com/labels"] == {"environment": "prod"}
    assert {line["severity"] for line in result.by_logger("asgi_obs.access")} == {"WARNING"}
    assert with_traceback["error_type"] == "ValueError"  # the error record's fields are kept


# --- every preset -------------------------------------------------------------------------------


@pytest.mark.parametrize("schema", ["ecs", "otel", "gcp"])
def test_presets_keep_the_fast_path_and_never_raise(schema: str) -> None:
    """Presets keep the access-record fast path; a value no encoder knows is rendered as text."""
    formatter = CustomJsonFormatter(schema=schema)
    assert formatter._fast  # the access record is serialised from its field dict

    class Odd:
        def __str__(self) -> str:
            raise RuntimeError("no str")

    record = logging.LogRecord("app", logging.INFO, __file__, 1, "m %s", (1,), None)
    record.__dict__.update({"odd": Odd(), "status": object(), "duration_ms": "n/a", "a.b": 1})
    line = json.loads(formatter.format(record))
    assert {"ecs": "@timestamp", "otel": "body", "gcp": "severity"}[schema] in line  # converted
    assert "Odd object" in json.dumps(line)
