"""Shared fixtures: captured JSON log lines, an in-process HTTP client, free ports."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from asgi_obs import init_structured_logging

from . import servers


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class LogCapture:
    """The lines written by the real ``init_structured_logging()`` handler, parsed as JSON."""

    def __init__(self) -> None:
        self.stream = io.StringIO()

    @property
    def raw(self) -> str:
        return self.stream.getvalue()

    def lines(self) -> list[dict[str, Any]]:
        # Every line must be valid JSON: a line that is not fails the test right here.
        return [json.loads(line) for line in self.raw.splitlines()]

    def records(self, logger: str) -> list[dict[str, Any]]:
        return [line for line in self.lines() if line["logger"] == logger]

    def access(self) -> list[dict[str, Any]]:
        return self.records("asgi_obs.access")

    def errors(self) -> list[dict[str, Any]]:
        return self.records("asgi_obs.error")

    def clear(self) -> None:
        self.stream.seek(0)
        self.stream.truncate()


@pytest.fixture
def logs(monkeypatch: pytest.MonkeyPatch) -> Iterator[LogCapture]:
    """Install the real structured logging handler on a StringIO, at INFO."""
    for name in ("LOG_LEVEL", "LOG_SUPPRESS_LOGGERS", "LOG_SUPPRESS_PATHS"):
        monkeypatch.delenv(name, raising=False)
    capture = LogCapture()
    init_structured_logging("INFO", stream=capture.stream)
    # httpx logs every request at INFO outside any request context: noise for these tests.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    yield capture
    root = logging.getLogger()
    for handler in root.handlers[:]:
        root.removeHandler(handler)


@pytest.fixture
def free_port() -> Callable[[], int]:
    return servers.free_port


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the tests that initialise Sentry last.

    On sentry-sdk 2.12, once a client has been replaced or closed, Starlette's patched exception
    handling can turn a 404 into a 500 for the rest of the process (DESIGN §7).
    """
    items.sort(key=lambda item: item.get_closest_marker("sentry") is not None)


def pytest_report_header() -> str:
    """Show the versions that matter: the matrix must pass on old and new sentry-sdk."""
    import sentry_sdk
    import starlette

    return f"sentry-sdk {sentry_sdk.VERSION}, starlette {starlette.__version__}"
