"""Settings travel: what a user configures on a layer is what the filters and Sentry use too."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import pytest
from sentry_sdk.integrations.logging import LoggingIntegration

from asgi_obs import (
    AccessLogMiddleware,
    ErrorMiddleware,
    RequestContextMiddleware,
    SuppressUnwantedLogsFilter,
    build_stack,
    init_structured_logging,
)
from asgi_obs.redaction import DEFAULT_REDACTED_PARAMS

from . import sentry_apps, sentry_support
from .asgi import call, http_scope
from .conftest import LogCapture

pytestmark = pytest.mark.anyio


def custom_stack(app: Any) -> Any:
    """The three layers nested by hand, every logger renamed."""
    return RequestContextMiddleware(
        AccessLogMiddleware(ErrorMiddleware(app, logger="myapp.error"), logger="myapp.access"),
        header="X-Correlation-ID",
    )


async def test_custom_logger_names_are_used(logs: LogCapture) -> None:
    """Renamed loggers carry the records; the default names carry none."""
    result = await call(custom_stack(sentry_apps.raw_app), http_scope(path="/returned-500"))
    assert result.status == 500
    assert result.header(b"x-correlation-id")
    assert [line["logger"] for line in logs.lines() if line["logger"].startswith("myapp.")] == [
        "myapp.error",
        "myapp.access",
    ]
    assert not logs.access() and not logs.errors()


async def test_suppress_filter_knows_a_renamed_access_logger(monkeypatch: pytest.MonkeyPatch) -> None:
    """SuppressUnwantedLogsFilter(paths=...) drops a successful /health whatever the access logger."""
    for name in ("LOG_SUPPRESS_LOGGERS", "LOG_SUPPRESS_PATHS"):
        monkeypatch.delenv(name, raising=False)
    stream = io.StringIO()
    init_structured_logging("INFO", stream=stream, suppress=SuppressUnwantedLogsFilter(paths=["/health"]))
    app = custom_stack(sentry_apps.raw_app)
    await call(app, http_scope(path="/health"))
    await call(app, http_scope(path="/returned-500"))
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    access = [r for r in records if r["logger"] == "myapp.access"]
    assert [r["path"] for r in access] == ["/returned-500"]


@pytest.mark.sentry
@pytest.mark.parametrize("path", ["/returned-500", "/raise"])
async def test_renamed_error_logger_gives_one_sentry_event(logs: LogCapture, path: str) -> None:
    """With the logging integration making events of ERROR records, a renamed error logger adds none."""
    transport = sentry_support.MemoryTransport()
    sentry_support.init(
        transport, integrations=[LoggingIntegration(level=logging.INFO, event_level=logging.ERROR)]
    )
    await call(custom_stack(sentry_apps.raw_app), http_scope(path=path))
    assert len(transport.events) == 1
    (event,) = transport.events
    crumbs = [c.get("category") for c in event.get("breadcrumbs", {}).get("values", [])]
    assert "myapp.error" not in crumbs  # the failure's own record is the event, not a crumb of it


@pytest.mark.sentry
@pytest.mark.parametrize("access_log", [True, False])
async def test_custom_redaction_reaches_sentry_events(logs: LogCapture, access_log: bool) -> None:
    """A parameter the user added to the redaction list is redacted in the event as in the log."""
    transport = sentry_support.MemoryTransport()
    sentry_support.init(transport)
    app = build_stack(
        sentry_apps.raw_app,
        access_log=access_log,
        redact_query_params=DEFAULT_REDACTED_PARAMS | {"session"},
    )
    await call(app, http_scope(path="/returned-500", query=b"session=s3cr3t-v4lue&page=2"))
    (event,) = transport.events
    assert event["request"]["query_string"] == "session=[REDACTED]&page=2"
    if access_log:
        (line,) = logs.access()
        assert line["query"] == "session=[REDACTED]&page=2"
