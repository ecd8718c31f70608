"""SuppressUnwantedLogsFilter and ServerDuplicateFilter: drop noise and duplicates, never errors."""

from __future__ import annotations

import logging

import pytest

from asgi_obs import ServerDuplicateFilter, SuppressUnwantedLogsFilter, init_structured_logging
from asgi_obs._emit import KIND_KEY
from asgi_obs._marks import mark_logged

from .conftest import LogCapture


def _record(name: str, level: int, msg: str = "m", **attrs: object) -> logging.LogRecord:
    record = logging.LogRecord(name, level, __file__, 1, msg, None, None)
    record.__dict__.update(attrs)
    return record


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOG_SUPPRESS_LOGGERS", raising=False)
    monkeypatch.delenv("LOG_SUPPRESS_PATHS", raising=False)


# (logger, level, message, attrs, dropped?) against one filter configuration.
CASES = [
    ("httpx", logging.INFO, "HTTP Request", {}, True),
    ("httpx._client", logging.DEBUG, "child logger", {}, True),
    ("httpx", logging.WARNING, "at threshold", {}, False),
    ("httpxx", logging.INFO, "different logger", {}, False),
    ("app", logging.INFO, "GET /favicon.ico noise", {}, True),
    ("app", logging.INFO, "real work", {}, False),
    ("app", logging.ERROR, "GET /favicon.ico failed", {}, False),
    (
        "asgi_obs.access",
        logging.INFO,
        "GET /health 200",
        {"path": "/health", "outcome": "success", KIND_KEY: "access"},
        True,
    ),
    (
        "asgi_obs.access",
        logging.WARNING,
        "GET /health 500",
        {"path": "/health", "outcome": "server_error", KIND_KEY: "access"},
        False,
    ),
    (
        "asgi_obs.access",
        logging.INFO,
        "GET /healthz 200",
        {"path": "/healthz", "outcome": "success", KIND_KEY: "access"},
        False,
    ),
    # A record that looks like an access record but no access layer wrote: not one.
    ("app", logging.INFO, "GET /health 200", {"path": "/health", "outcome": "success"}, False),
    ("noisy", logging.ERROR, "errors survive thresholds", {}, False),
]


@pytest.mark.parametrize(("name", "level", "msg", "attrs", "dropped"), CASES)
def test_suppression_rules(name: str, level: int, msg: str, attrs: dict[str, object], dropped: bool) -> None:
    """Each rule drops what it names and nothing else; ERROR always passes."""
    suppress = SuppressUnwantedLogsFilter(
        loggers={"httpx": "WARNING", "noisy": "CRITICAL"}, patterns=[r"favicon\.ico"], paths=["/health"]
    )
    assert suppress.should_suppress(_record(name, level, msg, **attrs)) is dropped


def test_errors_dropped_only_when_told() -> None:
    """suppress_errors=True is the explicit way to drop ERROR records."""
    suppress = SuppressUnwantedLogsFilter(loggers={"noisy": "CRITICAL"}, suppress_errors=True)
    assert suppress.should_suppress(_record("noisy", logging.ERROR))


def test_environment_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    """LOG_SUPPRESS_LOGGERS and LOG_SUPPRESS_PATHS configure the filter (documented syntax)."""
    monkeypatch.setenv("LOG_SUPPRESS_LOGGERS", "httpx=WARNING, botocore=error,chatty")
    monkeypatch.setenv("LOG_SUPPRESS_PATHS", "/health,/metrics")
    suppress = SuppressUnwantedLogsFilter()
    assert suppress.should_suppress(_record("botocore.client", logging.WARNING))
    assert suppress.should_suppress(_record("chatty", logging.INFO))
    assert not suppress.should_suppress(_record("chatty", logging.WARNING))
    assert suppress.paths == frozenset({"/health", "/metrics"})


def test_invalid_configuration_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """Bad levels and patterns fail at construction, naming the culprit."""
    with pytest.raises(ValueError, match="httpx"):
        SuppressUnwantedLogsFilter(loggers={"httpx": "LOUD"})
    with pytest.raises(ValueError, match="invalid pattern"):
        SuppressUnwantedLogsFilter(patterns=["("])
    monkeypatch.setenv("LOG_SUPPRESS_LOGGERS", "httpx=SOMETIMES")
    with pytest.raises(ValueError, match="LOG_SUPPRESS_LOGGERS"):
        SuppressUnwantedLogsFilter()


def test_installed_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """With LOG_SUPPRESS_* set, init_structured_logging() installs the filter by itself."""
    monkeypatch.setenv("LOG_SUPPRESS_LOGGERS", "httpx")
    capture = LogCapture()
    init_structured_logging(stream=capture.stream)
    logging.getLogger("httpx").info("HTTP Request: GET /")
    logging.getLogger("httpx").warning("retrying")
    assert [line["message"] for line in capture.lines()] == ["retrying"]


def test_server_duplicate_dropped_only_when_logged() -> None:
    """uvicorn's 'Exception in ASGI application' goes only for an exception already logged."""
    dedupe = ServerDuplicateFilter()
    logged, fresh = RuntimeError("logged"), RuntimeError("fresh")
    mark_logged(logged, None)

    def server_record(exc: BaseException, name: str = "uvicorn.error") -> logging.LogRecord:
        record = _record(name, logging.ERROR, "Exception in ASGI application\n")
        record.exc_info = (type(exc), exc, None)
        return record

    assert not dedupe.filter(server_record(logged))
    assert dedupe.filter(server_record(fresh))
    assert dedupe.filter(server_record(logged, name="app"))  # only server loggers


def test_uvicorn_websocket_lines_dropped() -> None:
    """uvicorn's per-WebSocket INFO lines go (the access record replaces them); warnings stay."""
    dedupe = ServerDuplicateFilter()
    accepted = _record("uvicorn.error", logging.INFO, '%s - "WebSocket %s" [accepted]')
    opened = _record("uvicorn.error", logging.INFO, "connection open")
    startup = _record("uvicorn.error", logging.INFO, "Application startup complete.")
    warning = _record("uvicorn.error", logging.WARNING, "connection open")
    assert (dedupe.filter(accepted), dedupe.filter(opened)) == (False, False)
    assert (dedupe.filter(startup), dedupe.filter(warning)) == (True, True)
