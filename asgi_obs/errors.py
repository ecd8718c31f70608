"""``ErrorMiddleware``: each failure classified once, logged once, reported to Sentry once.

Place it innermost, directly around the app (``build_stack`` does), so the 500 it sends passes
through the access layer (which records it) and the context layer (which adds
``X-Request-ID``). Inside a framework's own error middleware it never sees exceptions the
framework turned into responses; it then still reports the 5xx the framework sends.
"""

from __future__ import annotations

import asyncio
import logging
import sys

from . import _marks, sentry
from ._emit import emit_record, report_internal_error
from ._responses import send_500
from ._types import ASGIApp, Message, Receive, Scope, Send
from .classify import classify, is_disconnect, task_cancelling, unwrap
from .context import ERROR_LAYER, claim_layer, state_var

__all__ = ["ErrorMiddleware", "IncompleteResponseError"]

_SERVER_ERROR = "Server error response"
_BODY_EXTENSIONS = frozenset({"http.response.pathsend", "http.response.zerocopysend"})


class IncompleteResponseError(RuntimeError):
    """Raised by :class:`ErrorMiddleware` when the app returned in the middle of a response.

    Re-raising makes the server abort the connection (the client must not take a truncated
    body for a complete one) instead of logging its own untraceable message; being already
    logged and reported, it is then dropped from the output and from Sentry.
    """


class ErrorMiddleware:
    """Turn failures into exactly one error record and at most one Sentry event each.

    *When* it acts (DESIGN §6):

    * an exception before the response started: one ERROR record on ``asgi_obs.error`` with
      the traceback, then a ``500`` (plain text, or ``application/problem+json`` with the
      ``request_id`` when ``problem_json=True``); not re-raised;
    * an exception after the response started but before it completed: one ERROR record with
      the traceback, then re-raised so the server aborts the connection (the server's own
      report of it is then dropped by :class:`~asgi_obs.ServerDuplicateFilter`);
    * an exception after a complete response (a framework that sent its own 500 and re-raised,
      a failing background task): one ERROR record, not re-raised;
    * a 5xx response sent by the app: one ERROR record *while the response start is sent*, with
      the traceback of the exception being handled at that moment (frameworks send their 500
      from inside an ``except`` block) when there is one;
    * 4xx, client disconnects and cancellation: nothing. ``CancelledError`` is re-raised.

    An exception already written with its traceback (the app's ``logger.exception`` before a
    re-raise) is not written with its traceback again. WebSocket failures are recorded the same
    way and the socket is closed with code 1011.

    With Sentry active the same moments capture one event (mechanism ``asgi_obs``); events for
    the same failure from other paths are dropped by :mod:`asgi_obs.sentry`.
    ``capture_5xx_responses=False`` turns off the message event for a 5xx sent without an
    exception.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        problem_json: bool = False,
        capture_5xx_responses: bool = True,
        logger: str = "asgi_obs.error",
    ) -> None:
        if not isinstance(problem_json, bool) or not isinstance(capture_5xx_responses, bool):
            raise ValueError("problem_json and capture_5xx_responses must be booleans")
        self.app = app
        self._problem_json = problem_json
        self._capture_5xx = capture_5xx_responses
        self._logger = logging.getLogger(logger)

    def _log(self, scope: Scope, message: str, status: int | None, exc: BaseException | None) -> None:
        """Write the failure's error record (with the traceback unless already logged)."""
        try:
            state = state_var.get()
            fields: dict[str, object] = {
                "method": "WEBSOCKET" if scope["type"] == "websocket" else scope.get("method"),
                "path": scope.get("path"),
                "status": status,
            }
            traceback: BaseException | None = None
            if exc is not None:
                fields["error_type"] = type(exc).__qualname__
                fields["error_message"] = _safe_str(exc)
                if _marks.is_logged(exc, state):
                    fields["traceback_logged"] = "earlier in this request"
                else:
                    traceback = exc
            emit_record(self._logger, logging.ERROR, message, fields, traceback)
            if exc is not None:
                _marks.mark_logged(exc, state)
        except Exception as internal:  # noqa: BLE001 - reporting must never fail the request
            report_internal_error("writing the error record", internal)

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
                sentry.capture_failure(exc, state_var.get(), scope=scope, status=status, message=message)
        except Exception as internal:  # noqa: BLE001 - Sentry must never fail the request
            report_internal_error("capturing a Sentry event", internal)

    async def _send_500(self, send: Send) -> None:
        state = state_var.get()
        await send_500(send, problem_json=self._problem_json, request_id=state.request_id if state else None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not claim_layer(scope, ERROR_LAYER):  # a stack outside already does this for this request
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":  # HTTP is handled right here: one coroutine less per request
            if scope["type"] == "websocket":
                await self._websocket(scope, receive, send)
            else:
                await self.app(scope, receive, send)
            return
        status = 0
        started = completed = disconnected = False
        # A 5xx the app is sending: (status, the exception being handled when it started). Its
        # error record is written as its last byte goes out, its Sentry event once delivered;
        # an exception or an early return before that takes its place: one failure, one report.
        pending: tuple[int, BaseException | None] | None = None
        reported = False  # the pending 5xx was written: ``reported_exc`` is then already logged
        reported_exc: BaseException | None = None

        async def watch_receive() -> Message:
            nonlocal disconnected
            message = await receive()
            if message["type"] == "http.disconnect" and not completed:
                disconnected = True
            return message

        async def watch_send(message: Message) -> None:
            nonlocal status, started, completed, disconnected, pending, reported, reported_exc
            message_type = message["type"]
            last = False
            if message_type == "http.response.start":
                if not started:  # a second start is the server's to refuse, not a new status
                    status = message["status"]
                    started = True
                    if status >= 500:
                        # Inside the app's call: sys.exc_info() is what the framework handles.
                        handled = sys.exc_info()[1]
                        handled = unwrap(handled) if handled is not None else None
                        # A framework's 500 for a client that left (Starlette turns
                        # ClientDisconnect into one) is not a failure of ours.
                        if not (disconnected or (handled is not None and is_disconnect(handled))):
                            pending = (status, handled)
            elif message_type == "http.response.body" or message_type in _BODY_EXTENSIONS:
                last = not message.get("more_body", False) and not completed
                if last and pending is not None:
                    reported, reported_exc = True, pending[1]
                    self._log(scope, _SERVER_ERROR, *pending)  # before its last byte leaves
            try:
                await send(message)
            except OSError:  # the server could not write: the client is gone
                disconnected = True
                raise
            if last:
                completed = True
                if pending is not None:
                    # Delivered, and still inside the app's call: in the request's Sentry scope.
                    self._capture(scope, _SERVER_ERROR, *pending, is_5xx=True)
                    pending = None

        try:
            await self.app(scope, watch_receive, watch_send)
        except BaseException as exc:
            inner = unwrap(exc)
            verdict = classify(
                status or None, exc, started=started, completed=completed, disconnected=disconnected
            )
            if verdict.outcome == "disconnect":
                if isinstance(inner, asyncio.CancelledError) or not isinstance(exc, Exception):
                    raise
                # The client left (ClientDisconnect, a failed write): nothing to report, and
                # re-raising would only make the server log it as an error.
                return
            pending = None  # an exception takes the place of a 5xx still being sent
            already = reported and inner is reported_exc  # a framework's 500, re-raised
            if not already:
                if not started:
                    message = "Unhandled exception"
                elif not completed:
                    message = "Exception after the response started"
                else:
                    message = "Exception after the response completed"
                self._log(scope, message, status or 500, inner)
            if not started:
                await self._send_500(send)
            if not already:
                self._capture(scope, message, status or 500, inner)
            if started and not completed:
                raise
            return
        if completed or disconnected or task_cancelling():
            # Done (the common case); or the client left, or the server cancelled the request.
            return
        if not started:
            self._log(scope, "App returned without starting a response", 500, None)
            await self._send_500(send)
            self._capture(scope, "App returned without starting a response", 500, None)
        elif not completed:
            error = IncompleteResponseError("the app returned without completing the response")
            self._log(scope, "App returned without completing the response", status, error)
            self._capture(scope, "App returned without completing the response", status, error)
            raise error

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        accepted = closed = client_gone = False
        denial = 0  # the status of a denial response (websocket.http.response.start)

        async def watch_receive() -> Message:
            nonlocal client_gone
            message = await receive()
            if message["type"] == "websocket.disconnect":
                client_gone = True
            return message

        async def watch_send(message: Message) -> None:
            nonlocal accepted, closed, denial
            message_type = message["type"]
            if message_type == "websocket.accept":
                accepted = True
            elif message_type == "websocket.close":
                closed = True
            elif message_type == "websocket.http.response.start":
                closed = True
                denial = message["status"]
                if denial >= 500:  # a 5xx denial: the same failure as an HTTP 5xx
                    self._log(scope, _SERVER_ERROR, denial, None)
            await send(message)
            if message_type == "websocket.http.response.start" and denial >= 500:
                self._capture(scope, _SERVER_ERROR, denial, None, is_5xx=True)

        try:
            await self.app(scope, watch_receive, watch_send)
        except BaseException as exc:
            inner = unwrap(exc)
            if classify(None, exc).outcome == "disconnect":
                if isinstance(inner, asyncio.CancelledError) or not isinstance(exc, Exception):
                    raise
                return
            self._log(scope, "Unhandled exception", 500 if not accepted else None, inner)
            if not closed and not client_gone:
                try:
                    if not accepted and "websocket.http.response" in (scope.get("extensions") or {}):
                        # Before the handshake, with the denial extension: a real 500 (which
                        # gets X-Request-ID) rather than a close the server turns into a 403.
                        await self._send_500_denial(send)
                    else:
                        await send({"type": "websocket.close", "code": 1011})
                except (OSError, RuntimeError) as gone:  # the socket went away meanwhile
                    report_internal_error("closing the websocket after a failure", gone)
            self._capture(scope, "Unhandled exception", 500 if not accepted else None, inner)
            return
        if not accepted and not closed and not client_gone and not task_cancelling():
            # The server answers this with an error of its own (uvicorn: a 500).
            message = "App returned without a WebSocket handshake"
            self._log(scope, message, 500, None)
            self._capture(scope, message, 500, None)

    async def _send_500_denial(self, send: Send) -> None:
        async def as_denial(message: Message) -> None:
            kind = message["type"].replace("http.response.", "websocket.http.response.")
            await send({**message, "type": kind})

        await self._send_500(as_denial)


def _safe_str(exc: BaseException) -> str:
    try:
        return str(exc)[:1000]
    except Exception:  # noqa: BLE001 - an exception with a broken __str__ still gets reported
        return f"<unprintable {type(exc).__qualname__}>"
