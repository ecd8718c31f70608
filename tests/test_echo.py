"""A server's echo of a failure already logged is recognised, for every server; nothing else is."""

from __future__ import annotations

import logging
import sys

import pytest

from asgi_obs import ContextFilter, ServerDuplicateFilter
from asgi_obs._compat import EXCEPTION_GROUP_TYPES
from asgi_obs._echo import LoggerSet, echoed_exception
from asgi_obs._marks import mark_logged, mark_reported
from asgi_obs.sentry import ensure_registered

from . import sentry_support
from .conftest import LogCapture

GRANIAN_ECHO = (
    "Application callable raised an exception\nTraceback (most recent call last):\n  ...\nRuntimeError: x"
)


def _record(name: str, msg: str, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, None) if exc is not None else None
    return logging.LogRecord(name, logging.ERROR, __file__, 1, msg, None, exc_info)


def _group(*members: Exception) -> BaseException:
    if not EXCEPTION_GROUP_TYPES:
        pytest.skip("no exception groups on this Python without the backport")
    group_type = EXCEPTION_GROUP_TYPES[0]
    return group_type("group", list(members))  # type: ignore[call-arg]


def test_granian_echo_dropped_only_for_the_exception_being_handled() -> None:
    """granian's text echo goes when the exception being handled was logged; else it stays."""
    dedupe = ServerDuplicateFilter()
    logged, fresh = RuntimeError("x"), RuntimeError("x")
    mark_logged(logged, None)
    for exc, kept in ((logged, False), (fresh, True)):
        try:
            raise exc
        except RuntimeError:  # granian logs from inside its except block, as here
            assert dedupe.filter(_record("_granian.utils", GRANIAN_ECHO)) is kept
    assert sys.exc_info()[1] is None
    assert dedupe.filter(_record("_granian.utils", GRANIAN_ECHO))  # nothing handled: kept


def test_granian_echo_must_name_the_handled_exception() -> None:
    """A handled exception of another type than the echo names is not taken for it."""
    other = KeyError("k")
    mark_logged(other, None)
    try:
        raise other
    except KeyError:
        assert echoed_exception(_record("_granian.utils", GRANIAN_ECHO)) is None
        assert ServerDuplicateFilter().filter(_record("_granian.utils", GRANIAN_ECHO))


def test_hypercorn_trio_group_echo_is_its_member() -> None:
    """hypercorn -k trio logs a one-member group: dropped when that member was logged."""
    dedupe = ServerDuplicateFilter()
    member, other = RuntimeError("stream boom"), RuntimeError("other")
    mark_logged(member, None)
    assert not dedupe.filter(_record("hypercorn.error", "Error in ASGI Framework", _group(member)))
    assert dedupe.filter(_record("hypercorn.error", "Error in ASGI Framework", _group(member, other)))


def test_logged_group_marks_its_member() -> None:
    """A group logged with its traceback: the server's echo of its one member is dropped too."""
    member = RuntimeError("boom")
    ContextFilter().filter(_record("asgi_obs.error", "Unhandled exception", _group(member)))
    echo = _record("uvicorn.error", "Exception in ASGI application", member)
    assert not ServerDuplicateFilter().filter(echo)


@pytest.mark.parametrize(
    ("name", "dropped"),
    [
        ("uvicorn.error", True),
        ("hypercorn.error", True),
        ("daphne.server", True),
        ("_granian", True),
        ("_granian.utils", True),  # children of a server logger count
        ("_granianx", False),
        ("app", False),
    ],
)
def test_server_loggers_and_their_children(name: str, dropped: bool) -> None:
    """The echo of a logged exception goes on each server's logger (children too), nowhere else."""
    logged = RuntimeError("logged")
    mark_logged(logged, None)
    assert ServerDuplicateFilter().filter(_record(name, "Exception", logged)) is not dropped


def test_logger_set_matches_the_hierarchy() -> None:
    """LoggerSet: a name, its children, nothing that merely shares a prefix."""
    loggers = LoggerSet(["_granian", "a.b"])
    assert [loggers[name] for name in ("_granian", "_granian.utils", "a.b.c", "a", "_granianx")] == [
        True,
        True,
        True,
        False,
        False,
    ]


def test_single_string_loggers_is_an_error() -> None:
    """loggers="uvicorn.error" (a string, not a collection) is a ValueError naming it."""
    with pytest.raises(ValueError, match="loggers"):
        ServerDuplicateFilter(loggers="uvicorn.error")


@pytest.mark.sentry
def test_granian_echo_event_dropped_genuine_server_error_kept(logs: LogCapture) -> None:
    """Sentry: no event from granian's echo of a reported exception; one for an unreported one."""
    transport = sentry_support.MemoryTransport()
    sentry_support.init(transport)
    ensure_registered()  # as init_sentry() or the first request does
    echo_logger = logging.getLogger("_granian.utils")
    reported, unreported = RuntimeError("x"), RuntimeError("x")
    mark_logged(reported, None)  # as the error layer does: written, then reported
    mark_reported(reported, None)
    for exc in (reported, unreported):
        try:
            raise exc
        except RuntimeError:
            echo_logger.error(GRANIAN_ECHO)
    messages = [(e.get("logentry") or {}).get("message") or e.get("message") for e in transport.events]
    assert messages == [GRANIAN_ECHO]
    assert [line["logger"] for line in logs.lines()] == ["_granian.utils"]  # the unreported one's line
