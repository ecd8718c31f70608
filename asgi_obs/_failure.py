"""What the error layer does about how a request ended: the decision, apart from its actions.

:func:`decide` reads the response tracker and :func:`~asgi_obs.classify` and returns one
:class:`Decision`; :class:`~asgi_obs.ErrorMiddleware` carries it out. The table (DESIGN §6):

==============================================  =========================================  ====  ========
what happened                                   error record (and one Sentry event)        500   re-raise
==============================================  =========================================  ====  ========
client gone, or ``CancelledError`` [1]          none                                       no    [1]
exception before the response started           "Unhandled exception", traceback           yes   no
exception after the start, before completion    "Exception after the response started"     no    yes
exception after a complete response             "Exception after the response completed"   no    no
the exception of a 5xx already reported [2]     none                                       no    as above
app returned without starting a response        "App returned without starting ..."        yes   no
app returned mid-response                       "App returned without completing ..." [3]  no    yes
app returned after completing (or client gone)  none                                       no    no
a 5xx response, at its last byte [4]            "Server error response"                    --    --
==============================================  =========================================  ====  ========

[1] ``CancelledError`` and other ``BaseException`` re-raised; a client-gone ``Exception``
(``ClientDisconnect``, a failed write) swallowed, or the server would log it as an error.
[2] a framework that sent its own 500 from inside ``except`` and re-raised (Starlette).
[3] with an :class:`IncompleteResponseError`, so the server aborts the connection.
[4] decided in :meth:`~asgi_obs.ErrorMiddleware.response_completed`, with the exception being
handled when the 5xx started, if any.
"""

from __future__ import annotations

import asyncio
from typing import NamedTuple

from ._response import ResponseTracker
from .classify import classify, task_cancelling, unwrap

__all__ = ["Decision", "IncompleteResponseError", "decide"]


class IncompleteResponseError(RuntimeError):
    """Raised by :class:`~asgi_obs.ErrorMiddleware` when the app returned mid-response.

    Re-raising makes the server abort the connection (the client must not take a truncated
    body for a complete one) instead of logging its own untraceable message; being already
    logged and reported, it is then dropped from the output and from Sentry.
    """


class Decision(NamedTuple):
    """What the error layer does: which record (``None``: none), the 500, what to raise."""

    message: str | None
    exc: BaseException | None = None
    send_500: bool = False
    #: The exception to raise after acting (``None``: return normally).
    raise_: BaseException | None = None


NOTHING = Decision(None)


def decide(tracker: ResponseTracker, exc: BaseException | None) -> Decision:
    """Decide what the error layer does when the app ended (returned, or raised ``exc``)."""
    started, completed = tracker.started, tracker.completed
    if exc is None:
        if completed or tracker.disconnected or task_cancelling():
            # Done (the common case); or the client left, or the server cancelled the request.
            return NOTHING
        if not started:
            return Decision("App returned without starting a response", send_500=True)
        error = IncompleteResponseError("the app returned without completing the response")
        return Decision("App returned without completing the response", error, raise_=error)
    inner = unwrap(exc)
    verdict = classify(
        tracker.status or None, exc, started=started, completed=completed, disconnected=tracker.disconnected
    )
    if verdict.outcome == "disconnect":
        if isinstance(inner, asyncio.CancelledError) or not isinstance(exc, Exception):
            return Decision(None, raise_=exc)
        return NOTHING
    # A KeyboardInterrupt or SystemExit is recorded like any failure, then goes on to the
    # server: never swallowed.
    reraise = exc if (started and not completed) or not isinstance(exc, Exception) else None
    if tracker.reported and inner is tracker.reported_exc:  # a framework's 500, re-raised
        return Decision(None, raise_=reraise)
    if not started:
        return Decision("Unhandled exception", inner, send_500=True, raise_=reraise)
    if not completed:
        return Decision("Exception after the response started", inner, raise_=reraise)
    return Decision("Exception after the response completed", inner, raise_=reraise)
