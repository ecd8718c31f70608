"""``ErrorMiddleware``: each failure classified once, logged once, reported to Sentry once.

Place it innermost, directly around the app (``build_stack`` does), so the 500 it sends passes
through the access layer (which records it) and the context layer (which adds
``X-Request-ID``). Inside a framework's own error middleware it never sees exceptions the
framework turned into responses; it then still reports the 5xx the framework sends.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from . import sentry
from ._core import Layers
from ._emit import report_internal_error
from ._error_record import write_error_record
from ._failure import Decision, IncompleteResponseError
from ._response import ResponseTracker
from ._responses import send_500, send_500_denial
from ._types import ASGIApp, Scope, Send
from .classify import classify, is_disconnect, task_cancelling, unwrap
from .context import state_var
from .fields import ERROR_LOGGER
from .redaction import DEFAULT_REDACTED_PARAMS, QueryRedactor

__all__ = ["ErrorMiddleware", "IncompleteResponseError"]

_SERVER_ERROR = "Server error response"


class ErrorMiddleware(Layers):
    """Turn failures into exactly one error record and at most one Sentry event each.

    *When* it acts (DESIGN §6, the table in :mod:`asgi_obs._failure`):

    * an exception before the response started: one ERROR record on ``asgi_obs.error`` with
      the traceback, then a ``500`` (plain text, or ``application/problem+json`` with the
      ``request_id`` when ``problem_json=True``); not re-raised;
    * an exception after the response started but before it completed: one ERROR record with
      the traceback, then re-raised so the server aborts the connection (the server's own
      report of it is then dropped by :class:`~asgi_obs.ServerDuplicateFilter`);
    * an exception after a complete response (a framework that sent its own 500 and re-raised,
      a failing background task): one ERROR record, not re-raised;
    * a 5xx response sent by the app: one ERROR record *when its last byte is handed to the
      server*, with the traceback of the exception being handled when the response started
      (frameworks send their 500 from inside an ``except`` block) when there is one;
    * 4xx, client disconnects and cancellation: nothing. ``CancelledError`` is re-raised.

    An exception already written with its traceback (the app's ``logger.exception`` before a
    re-raise) is not written with its traceback again. WebSocket failures are recorded the same
    way and the socket is closed with code 1011.

    With Sentry active the same moments capture one event (mechanism ``asgi_obs``); events for
    the same failure from other paths are dropped by :mod:`asgi_obs.sentry`.
    ``capture_5xx_responses=False`` turns off the message event for a 5xx sent without an
    exception. ``redact_query_params`` (default the access layer's) is what Sentry events of
    the request redact when no access layer configured it.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        problem_json: bool = False,
        capture_5xx_responses: bool = True,
        logger: str = ERROR_LOGGER,
        redact_query_params: Iterable[str] = DEFAULT_REDACTED_PARAMS,
    ) -> None:
        if not isinstance(problem_json, bool) or not isinstance(capture_5xx_responses, bool):
            raise ValueError("problem_json and capture_5xx_responses must be booleans")
        if not isinstance(logger, str) or not logger:
            raise ValueError(f"logger={logger!r} must be a non-empty logger name")
        if isinstance(redact_query_params, str):
            raise ValueError("redact_query_params must be a collection of names, not a single string")
        self.app = app
        self._problem_json = problem_json
        self._capture_5xx = capture_5xx_responses
        self._logger = logging.getLogger(logger)
        self._redact = QueryRedactor(redact_query_params)
        self._error = self  # the part Layers.__call__ runs (asgi_obs._core)
        if logger != ERROR_LOGGER:
            sentry.ignore_layer_logger(logger)  # its records are ours to report, not Sentry's

    # -- actions -------------------------------------------------------------------------------

    def _capture(
        self,
        scope: Scope,
        message: str,
        status: int | None,
        exc: BaseException | None,
        *,
        is_5xx: bool = False,
    ) -> None:
        """Capture the failure's Sentry event (a message event when there is no exception)."""
        if exc is None and is_5xx and not self._capture_5xx:
            return
        try:
            if sentry.is_active():
                sentry.request_module().capture_failure(
                    exc,
                    state_var.get(),
                    scope=scope,
                    status=status,
                    message=message,
                    logger=self._logger.name,
                )
        except Exception as internal:  # noqa: BLE001 - Sentry must never fail the request
            report_internal_error("capturing a Sentry event", internal)

    def _report(
        self, tracker: ResponseTracker, message: str, status: int | None, exc: BaseException | None
    ) -> None:
        tracker.reported, tracker.reported_exc = True, exc
        exc = tracker.reported_exc = write_error_record(self._logger, tracker.scope, message, status, exc)
        self._capture(tracker.scope, message, status, exc)

    def response_completed(self, tracker: ResponseTracker) -> bool:
        """Called by the tracker as a response's last byte is handed over: a 5xx is logged now.

        Still inside the app's call, so the record carries the request's ids and a cancellation
        of that final send cannot lose it. Returns whether there is a failure to capture: the
        tracker then calls :meth:`capture_completed`, after the access record is written.
        """
        if tracker.status < 500 or tracker.reported or tracker.disconnected:
            return False
        handled = tracker.handled
        if handled is not None:
            handled = unwrap(handled)
            if is_disconnect(handled):
                # A framework's 500 for a client that left (Starlette turns ClientDisconnect
                # into one) is not a failure of ours.
                return False
        tracker.reported, tracker.reported_exc = True, handled
        # Without an exception at hand, a framework's own record of it may carry one.
        tracker.reported_exc = write_error_record(
            self._logger, tracker.scope, _SERVER_ERROR, tracker.status, handled
        )
        return True

    def capture_completed(self, tracker: ResponseTracker) -> None:
        """Capture the Sentry event of the 5xx :meth:`response_completed` logged."""
        self._capture(tracker.scope, _SERVER_ERROR, tracker.status, tracker.reported_exc, is_5xx=True)

    async def _act(self, tracker: ResponseTracker, decision: Decision, send: Send) -> None:
        if decision.message is not None:
            status = tracker.status or 500
            if decision.send_500:
                # Ours is reported here, not as "a 5xx the app sent" when its last byte goes.
                tracker.reported, tracker.reported_exc = True, decision.exc
                exc = tracker.reported_exc = write_error_record(
                    self._logger, tracker.scope, decision.message, status, decision.exc
                )
                request_id = _request_id()
                await send_500(send, problem_json=self._problem_json, request_id=request_id)
                self._capture(tracker.scope, decision.message, status, exc)
            else:
                self._report(tracker, decision.message, status, decision.exc)
        if decision.raise_ is not None:
            raise decision.raise_

    async def _websocket_failed(self, tracker: ResponseTracker, exc: BaseException, send: Send) -> None:
        inner = unwrap(exc)
        if classify(None, exc).outcome == "disconnect":
            if isinstance(inner, asyncio.CancelledError) or not isinstance(exc, Exception):
                raise exc
            return
        scope = tracker.scope
        accepted = tracker.status == 101
        status = None if accepted else 500
        tracker.reported, tracker.reported_exc = True, inner
        inner = write_error_record(self._logger, scope, "Unhandled exception", status, inner) or inner
        if not tracker.completed and not tracker.disconnected:
            try:
                if not tracker.started and "websocket.http.response" in (scope.get("extensions") or {}):
                    # Before the handshake, with the denial extension: a real 500 (which gets
                    # X-Request-ID) rather than a close the server turns into a 403.
                    await send_500_denial(send, problem_json=self._problem_json, request_id=_request_id())
                else:
                    await send({"type": "websocket.close", "code": 1011})
            except (OSError, RuntimeError) as gone:  # the socket went away meanwhile
                report_internal_error("closing the websocket after a failure", gone)
        self._capture(scope, "Unhandled exception", status, inner)

    def _websocket_returned(self, tracker: ResponseTracker) -> None:
        if not tracker.started and not tracker.disconnected and not task_cancelling():
            # The server answers this with an error of its own (uvicorn: a 500).
            self._report(tracker, "App returned without a WebSocket handshake", 500, None)


def _request_id() -> str | None:
    state = state_var.get()
    return state.request_id if state is not None else None
