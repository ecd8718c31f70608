"""The one place that decides what a request's ending was.

The access log (its ``outcome`` and level), the error layer (whether to write an error record)
and the Sentry glue all ask :func:`classify` instead of repeating ``status >= 500``.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Literal

from ._compat import group_members

__all__ = [
    "Classification",
    "Outcome",
    "by_status",
    "classify",
    "is_disconnect",
    "record_status",
    "task_cancelling",
    "unwrap",
]

Outcome = Literal["success", "client_error", "server_error", "aborted", "disconnect"]


@dataclass(frozen=True)
class Classification:
    """What happened to a request, as the layers need to know it.

    ``outcome`` goes on the access record; ``is_failure`` tells the error layer to write one
    error record (and Sentry to hold one event); ``log_level`` is the access record's level.
    """

    outcome: Outcome
    is_failure: bool
    log_level: int


SUCCESS = Classification("success", False, logging.INFO)
CLIENT_ERROR = Classification("client_error", False, logging.INFO)
SERVER_ERROR = Classification("server_error", True, logging.WARNING)
ABORTED = Classification("aborted", True, logging.WARNING)
DISCONNECT = Classification("disconnect", False, logging.INFO)
# An exception after a complete response (a background task, a framework that sent its own
# 500 and re-raised): the access record keeps the outcome of the status that was sent, but
# the request still failed.
_FAILED_AFTER = {
    "success": Classification("success", True, logging.INFO),
    "client_error": Classification("client_error", True, logging.INFO),
    "server_error": SERVER_ERROR,
}

# Exceptions that mean "the client went away", matched by (module, name) along the MRO so that
# no framework needs importing. asyncio's CancelledError is checked with isinstance.
_DISCONNECT_TYPES = frozenset(
    {
        ("starlette.requests", "ClientDisconnect"),
        ("uvicorn.protocols.utils", "ClientDisconnected"),
        ("trio", "Cancelled"),
    }
)


def unwrap(exc: BaseException) -> BaseException:
    """Return the only member of a single-exception group (recursively), else ``exc``."""
    while True:
        members = group_members(exc)
        if len(members) != 1:
            return exc
        exc = members[0]


def is_disconnect(exc: BaseException) -> bool:
    """Tell whether ``exc`` means the client disconnected or the request was cancelled."""
    exc = unwrap(exc)
    if isinstance(exc, asyncio.CancelledError):
        return True
    return any((cls.__module__, cls.__name__) in _DISCONNECT_TYPES for cls in type(exc).__mro__)


def task_cancelling() -> bool:
    """Tell whether the current task is being cancelled (Python 3.11+; ``False`` before).

    An app that swallowed a ``CancelledError`` returns normally while its task is being
    cancelled: the request ended by cancellation (a client gone, a server shutting down), not
    by a bug of the app's.
    """
    try:
        task = asyncio.current_task()
    except RuntimeError:
        return False
    cancelling = getattr(task, "cancelling", None)
    return bool(cancelling()) if cancelling is not None else False


def by_status(status: int) -> Classification:
    """``classify(status)`` for a response that completed without an exception (the fast path)."""
    if status >= 500:
        return SERVER_ERROR
    if status >= 400:
        return CLIENT_ERROR
    return SUCCESS


def record_status(verdict: Classification, status: int) -> int:
    """The status to record for a request classified ``verdict`` whose response sent ``status``.

    ``499`` (nginx's "client closed request") when the client went away first, ``500`` when no
    response started (the error layer sends that one), else the status sent.
    """
    if verdict.outcome == "disconnect":
        return 499
    return status or 500


def classify(
    status: int | None,
    exc: BaseException | None = None,
    *,
    started: bool | None = None,
    completed: bool | None = None,
    disconnected: bool = False,
) -> Classification:
    """Classify how a request ended.

    ``status`` is the status sent (``None`` when no response started), ``exc`` the exception
    that escaped the app (a single-exception group is unwrapped first). ``started`` and
    ``completed`` say how far the response got; they default to what ``status`` implies
    (started when there is a status, completed unless an exception escaped). ``disconnected``
    is set by a layer that saw the client go away before the response completed.

    =================================================  ================  ==========
    what happened                                      outcome           failure
    =================================================  ================  ==========
    client went away, ``CancelledError``               ``disconnect``    no
    exception before the response started             ``server_error``  yes
    exception, or app returned, mid-response           ``aborted``       yes
    exception after a complete response                from ``status``   yes
    5xx / 4xx / other status                           by status         5xx only
    no response at all                                 ``server_error``  yes
    =================================================  ================  ==========
    """
    if started is None:
        started = status is not None
    if exc is not None:
        exc = unwrap(exc)
        if is_disconnect(exc):
            return DISCONNECT
    if disconnected:
        return DISCONNECT
    if completed is None:
        completed = started and exc is None
    if exc is not None:
        if completed and status is not None:
            return _FAILED_AFTER[by_status(status).outcome]
        return ABORTED if started else SERVER_ERROR
    if status is None or not started:
        return SERVER_ERROR
    if not completed:
        return ABORTED
    return by_status(status)
