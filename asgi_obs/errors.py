"""``ErrorMiddleware``: each failure classified once, logged once, reported to Sentry once.

Place it innermost, directly around the app (``build_stack`` does), so the 500 it sends passes
through the access layer (which records it) and the context layer (which adds
``X-Request-ID``). Inside a framework's own error middleware it never sees exceptions the
framework turned into responses; it then still reports the 5xx the framework sends.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys

from . import _marks, sentry
from ._emit import emit_record, report_internal_error
from ._types import ASGIApp, Message, Receive, Scope, Send
from .classify import classify, unwrap
from .context import state_var

__all__ = ["ErrorMiddleware", "IncompleteResponseError"]

_PLAIN_BODY = b"Internal Server Error"
_PLAIN_HEADERS = [
    (b"content-type", b"text/plain; charset=utf-8"),
    (b"content-length", str(len(_PLAIN_BODY)).encode("ascii")),
]


class IncompleteResponseError(RuntimeError):
    """Raised by :class:`ErrorMiddleware` when the app returned in the middle of a response.

    Re-raising makes the server abort the connection (the client must not take a truncated
    body for a complete one) instead of logging its own untraceable message; being already
    logged and reported, it is then dropped from the output and from Sentry.
    """


def _sentry_active() -> bool:
    return "sentry_sdk" in sys.modules and sentry.is_active()


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

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope_type = scope["type"]
        if scope_type == "http":
            await self._http(scope, receive, send)
        elif scope_type == "websocket":
            await self._websocket(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    def _report(
        self,
        scope: Scope,
        message: str,
        status: int | None,
        exc: BaseException | None,
        *,
        capture_message: bool = True,
    ) -> None:
        """Write the error record and capture the Sentry event of one failure."""
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
                if _marks.is_logged(exc):
                    fields["traceback_logged"] = "earlier in this request"
                else:
                    traceback = exc
            emit_record(self._logger, logging.ERROR, message, fields, traceback)
            if exc is not None:
                _marks.mark_logged(exc)
            if (exc is not None or capture_message) and _sentry_active():
                sentry.capture_failure(exc, state, scope=scope, status=status, message=message)
        except Exception as internal:  # noqa: BLE001 - reporting must never fail the request
            report_internal_error("reporting a failure", internal)

    async def _send_500(self, send: Send) -> None:
        headers = _PLAIN_HEADERS
        body = _PLAIN_BODY
        if self._problem_json:
            state = state_var.get()
            problem = {
                "type": "about:blank",
                "title": "Internal Server Error",
                "status": 500,
                "request_id": state.request_id if state is not None else None,
            }
            body = json.dumps(problem).encode("utf-8")
            headers = [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode("ascii")),
            ]
        try:
            await send({"type": "http.response.start", "status": 500, "headers": list(headers)})
            await send({"type": "http.response.body", "body": body, "more_body": False})
        except OSError:
            return  # the client is gone: nobody is left to receive the 500

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        status = 0
        started = completed = disconnected = False
        # The exception reported when the 5xx started (None: nothing, or a 5xx without one).
        reported_exc: BaseException | None = None
        reported = False

        async def watch_receive() -> Message:
            nonlocal disconnected
            message = await receive()
            if message["type"] == "http.disconnect" and not completed:
                disconnected = True
            return message

        async def watch_send(message: Message) -> None:
            nonlocal status, started, completed, reported, reported_exc
            message_type = message["type"]
            if message_type == "http.response.start":
                status = message["status"]
                started = True
                if status >= 500 and classify(status).is_failure:
                    # Inside the app's call: sys.exc_info() is what the framework is handling.
                    reported_exc = sys.exc_info()[1]
                    reported = True
                    self._report(
                        scope,
                        "Server error response",
                        status,
                        reported_exc,
                        capture_message=self._capture_5xx,
                    )
                await send(message)
                return
            await send(message)
            if message_type == "http.response.body":
                if not message.get("more_body", False):
                    completed = True
            elif message_type in ("http.response.pathsend", "http.response.zerocopysend"):
                completed = not message.get("more_body", False)

        try:
            await self.app(scope, watch_receive, watch_send)
        except BaseException as exc:
            verdict = classify(
                status or None, exc, started=started, completed=completed, disconnected=disconnected
            )
            if verdict.outcome == "disconnect":
                if isinstance(unwrap(exc), asyncio.CancelledError) or not isinstance(exc, Exception):
                    raise
                # The client left (ClientDisconnect, a failed write): nothing to report, and
                # re-raising would only make the server log it as an error.
                return
            inner = unwrap(exc)
            if not (reported and inner is reported_exc):
                if not started:
                    self._report(scope, "Unhandled exception", 500, inner)
                elif not completed:
                    self._report(scope, "Exception after the response started", status, inner)
                else:
                    self._report(scope, "Exception after the response completed", status, inner)
            if not started:
                await self._send_500(send)
            elif not completed:
                raise
            return
        if not started and not disconnected:
            self._report(scope, "App returned without starting a response", 500, None)
            await self._send_500(send)
        elif started and not completed and not disconnected:
            error = IncompleteResponseError("the app returned without completing the response")
            self._report(scope, "App returned without completing the response", status, error)
            raise error

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        closed = False

        async def watch_receive() -> Message:
            nonlocal closed
            message = await receive()
            if message["type"] == "websocket.disconnect":
                closed = True
            return message

        async def watch_send(message: Message) -> None:
            nonlocal closed
            if message["type"] in ("websocket.close", "websocket.http.response.start"):
                closed = True
            await send(message)

        try:
            await self.app(scope, watch_receive, watch_send)
        except BaseException as exc:
            if classify(None, exc).outcome == "disconnect":
                if isinstance(unwrap(exc), asyncio.CancelledError) or not isinstance(exc, Exception):
                    raise
                return
            self._report(scope, "Unhandled exception", None, unwrap(exc))
            if not closed:
                try:
                    await send({"type": "websocket.close", "code": 1011})
                except (OSError, RuntimeError) as gone:  # the socket went away meanwhile
                    report_internal_error("closing the websocket after a failure", gone)


def _safe_str(exc: BaseException) -> str:
    try:
        return str(exc)[:1000]
    except Exception:  # noqa: BLE001 - an exception with a broken __str__ still gets reported
        return f"<unprintable {type(exc).__qualname__}>"
