"""classify(): the one decision table (DESIGN §6)."""

from __future__ import annotations

import asyncio
import logging
import sys

import pytest

from asgi_obs import classify

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup, ExceptionGroup


class ClientDisconnect(Exception):
    """Stands in for starlette.requests.ClientDisconnect, matched by module and name."""


ClientDisconnect.__module__ = "starlette.requests"

# (status, exc, started, completed, disconnected) -> (outcome, is_failure, level)
TABLE = [
    (200, None, None, None, False, "success", False, logging.INFO),
    (302, None, None, None, False, "success", False, logging.INFO),
    (404, None, None, None, False, "client_error", False, logging.INFO),
    (503, None, None, None, False, "server_error", True, logging.WARNING),
    (None, RuntimeError(), None, None, False, "server_error", True, logging.WARNING),
    (200, RuntimeError(), True, False, False, "aborted", True, logging.WARNING),
    (200, RuntimeError(), True, True, False, "success", True, logging.INFO),
    (500, RuntimeError(), True, True, False, "server_error", True, logging.WARNING),
    (200, None, True, False, False, "aborted", True, logging.WARNING),
    (None, None, None, None, False, "server_error", True, logging.WARNING),
    (200, None, True, False, True, "disconnect", False, logging.INFO),
    (200, asyncio.CancelledError(), True, False, False, "disconnect", False, logging.INFO),
    (None, ClientDisconnect(), None, None, False, "disconnect", False, logging.INFO),
    (
        None,
        BaseExceptionGroup("g", [asyncio.CancelledError()]),
        None,
        None,
        False,
        "disconnect",
        False,
        logging.INFO,
    ),
    (None, ExceptionGroup("g", [RuntimeError()]), None, None, False, "server_error", True, logging.WARNING),
]


@pytest.mark.parametrize(
    ("status", "exc", "started", "completed", "disconnected", "outcome", "failure", "level"), TABLE
)
def test_table(
    status: int | None,
    exc: BaseException | None,
    started: bool | None,
    completed: bool | None,
    disconnected: bool,
    outcome: str,
    failure: bool,
    level: int,
) -> None:
    """Each way a request can end maps to one outcome, failure flag and access level."""
    verdict = classify(status, exc, started=started, completed=completed, disconnected=disconnected)
    assert (verdict.outcome, verdict.is_failure, verdict.log_level) == (outcome, failure, level)


def test_os_error_is_not_a_disconnect_by_itself() -> None:
    """A ConnectionRefusedError from the app's own database call is a server error."""
    assert classify(None, ConnectionRefusedError()).outcome == "server_error"
