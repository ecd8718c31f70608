"""The one per-request response tracker: what the server was handed, and when.

The first asgi_obs layer that sees a request wraps ``receive`` and ``send`` once in a
:class:`ResponseTracker`; the layers inside it find that tracker behind the ``send`` they are
given (:func:`attach`) and read its facts instead of keeping their own copy. Every message
the app, the framework or the error layer sends passes through it, so it knows: the status of
the first response start, whether the response started and completed, whether the client went
away first, the request and response body bytes, and a WebSocket's close code and frame counts.

*Completed* is set when the last body byte is **handed** to the server, before that ``send`` is
awaited: a server that cancels the final send (hypercorn on trio delivers ``http.disconnect``
and cancels it) cannot turn a complete response into a disconnect, and the layers act at that
moment (:meth:`ResponseTracker._complete`).

*Disconnected* is set by an ``OSError`` from the server's ``send``, by an ``http.disconnect``
received before completion, or — for a streamed response — by a disconnect noticed while
streaming (:mod:`asgi_obs._read_ahead`).
"""

from __future__ import annotations

import sys
from types import MethodType
from typing import TYPE_CHECKING, Any

from ._detach import send_detached
from ._read_ahead import ReadAhead
from ._types import Message, Receive, Scope, Send
from .classify import DISCONNECT, by_status
from .context import request_id_var, state_var, trace_id_var
from .request_info import frame_size

if TYPE_CHECKING:
    from .access_log import AccessLogMiddleware
    from .errors import ErrorMiddleware

__all__ = ["ResponseTracker", "attach"]

_BODY_EXTENSIONS = frozenset({"http.response.pathsend", "http.response.zerocopysend"})
_RESPONSE_OPENERS = frozenset({"http.response.start", "websocket.accept", "websocket.http.response.start"})


class ResponseTracker:
    """The facts of one request's response, shared by every asgi_obs layer of that request.

    Created by the first (outermost) layer; :meth:`send` and :meth:`receive` are the wrapped
    callables handed inward. ``access`` and ``error`` are the layers that act on this request;
    they are told at completion (:meth:`_complete`), error layer first.
    """

    __slots__ = (
        "_ahead",
        "_receive",
        "_send",
        "access",
        "app_receiving",
        "body_read",
        "close_code",
        "completed",
        "detach",
        "disconnected",
        "error",
        "handled",
        "headers_scanned",
        "id_header",
        "is_head",
        "messages_in",
        "messages_out",
        "reported",
        "reported_exc",
        "request_bytes",
        "response_bytes",
        "response_headers",
        "scope",
        "sentry_base",
        "start_ns",
        "started",
        "status",
        "trailers",
        "user_agent",
        "websocket",
    )
    _ahead: ReadAhead | None
    id_header: tuple[bytes, bytes] | None
    sentry_base: tuple[Any, Any] | None
    access: AccessLogMiddleware | None
    error: ErrorMiddleware | None
    handled: BaseException | None
    reported_exc: BaseException | None
    response_headers: Any
    close_code: int | None
    user_agent: bytes | None

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._receive = receive
        self._send = send
        self.scope = scope
        self.websocket = scope["type"] == "websocket"
        self.is_head = scope.get("method") == "HEAD"
        # What the attributes mean (assigned in chains below: this runs on every request):
        # - ``_ahead``: the ReadAhead made when a response streams; ``app_receiving``: the app
        #   waits in receive() now (no reading ahead then);
        # - ``id_header``: ``(name, value)`` set (replacing any) on every response opener, by the
        #   context part; ``detach``: the completing send runs outside the request's context
        #   (set by the context part, which owns that context); ``sentry_base``: Sentry's
        #   scopes of before the request;
        # - ``access``/``error``: the parts told at completion; ``start_ns``: when timing began;
        # - ``status``: of the first response start (``101`` for an accepted WebSocket), 0 before;
        # - ``handled``: the exception being handled when a 5xx started (frameworks send their
        #   500 from inside an ``except`` block);
        # - ``reported``/``reported_exc``: the error part wrote (and reported) this request's
        #   failure already, with which exception (``None`` for a 5xx without one);
        # - ``response_headers``: of the response start as the app sent them (Sentry scrubs
        #   Set-Cookie);
        # - ``headers_scanned``/``user_agent``: the first ``User-Agent`` value, when the context
        #   part scanned the request headers already.
        self.started = self.completed = self.disconnected = self.trailers = self.body_read = False
        self.reported = self.detach = self.headers_scanned = False
        self._ahead = self.id_header = self.sentry_base = self.access = self.error = None
        self.handled = self.reported_exc = self.response_headers = self.close_code = self.user_agent = None
        self.app_receiving = self.start_ns = self.status = self.request_bytes = self.response_bytes = 0
        self.messages_in = self.messages_out = 0

    # -- receive -------------------------------------------------------------------------------

    def _note(self, message: Message) -> None:
        """Account for one message the server delivered (exactly once per message)."""
        kind = message["type"]
        if kind == "http.request":
            self.request_bytes += len(message.get("body", b""))
            if not message.get("more_body", False):
                self.body_read = True
        elif kind == "http.disconnect":
            if not self.completed:
                self.disconnected = True
        elif kind == "websocket.receive":
            self.messages_in += 1
            self.request_bytes += frame_size(message)
        elif kind == "websocket.disconnect":
            self.disconnected = True
            if self.close_code is None:
                self.close_code = message.get("code", 1005)

    async def receive(self) -> Message:
        """The app's ``receive``: the server's next message, accounted for."""
        ahead = self._ahead
        if ahead is not None:  # the tracker may have received it already (see _read_ahead)
            message = await ahead.take()
            if message is not None:
                return message
        self.app_receiving += 1  # no reading ahead while the app itself waits for the server
        try:
            return await self.receive_from_server()
        finally:
            self.app_receiving -= 1

    async def receive_from_server(self) -> Message:
        """The server's next message, accounted for (exactly once per message)."""
        message = await self._receive()
        self._note(message)
        return message

    def _watch_for_disconnect(self) -> None:
        # A response streams: notice the client leaving even if the server keeps accepting
        # sends (uvicorn ignores them) and the app never calls receive() again.
        if not self.disconnected and not self.websocket:
            if self._ahead is None:
                self._ahead = ReadAhead()
            self._ahead.start(self)

    def close(self) -> None:
        """Stop waiting for the server (called by the layer that made the tracker, at the end)."""
        if self._ahead is not None:
            self._ahead.close()

    # -- send ----------------------------------------------------------------------------------

    async def send(self, message: Message) -> None:
        """The app's ``send``: accounted for, the id header set, the layers told at completion."""
        kind = message["type"]
        done_before = self.completed
        if kind == "http.response.body":
            more = message.get("more_body", False)
            if not self.disconnected:
                self.response_bytes += len(message.get("body", b""))
            if not more and not self.trailers and not self.completed:
                self._complete()
            elif more and self.started and not self.completed:
                self._watch_for_disconnect()
        elif kind in _RESPONSE_OPENERS:
            if not self.started:  # a second start is the server's to refuse, not a new status
                self.started = True
                self.response_headers = message.get("headers")
                if kind == "http.response.start":
                    self.status = message["status"]
                    self.trailers = bool(message.get("trailers", False))
                    if self.status >= 500:
                        # Inside the app's call: sys.exc_info() is what the framework handles.
                        self.handled = sys.exc_info()[1]
                elif kind == "websocket.accept":
                    self.status = 101
                else:  # a WebSocket denial response
                    self.status = message["status"]
                    if self.status >= 500:
                        self.handled = sys.exc_info()[1]
            if self.id_header is not None:
                message = self._with_id(message)
        elif kind == "http.response.trailers":
            if not message.get("more_trailers", False) and not self.completed:
                self._complete()
        elif kind == "websocket.send":
            self.messages_out += 1
            self.response_bytes += frame_size(message)
        elif kind == "websocket.close":
            if not self.started:  # closed before accept: the server answers 403
                self.started = True
                self.status = 403
            if self.close_code is None:
                self.close_code = message.get("code", 1000)
            self.completed = True
        elif kind == "websocket.http.response.body":
            if not message.get("more_body", False) and not self.completed:
                self._complete()
        elif kind in _BODY_EXTENSIONS and not message.get("more_body", False) and not self.completed:
            self._complete()
        if self.detach and self.completed and not done_before:
            if self.sentry_base is not None:
                await send_detached(self._send, message, self.sentry_base)
                return
            # send_detached() without Sentry, inlined (one coroutine frame less per request).
            tokens = (request_id_var.set(None), trace_id_var.set(None), state_var.set(None))
            try:
                await self._send(message)
            finally:
                state_var.reset(tokens[2])
                trace_id_var.reset(tokens[1])
                request_id_var.reset(tokens[0])
            return
        try:
            await self._send(message)
        except OSError:
            # The server could not write: the client is gone (uvicorn's ClientDisconnected).
            if not self.completed:
                self.disconnected = True
            raise

    def _with_id(self, message: Message) -> Message:
        name, _ = id_header = self.id_header  # type: ignore[misc]
        headers = list(message.get("headers") or ())  # any iterable, read once
        for key, _value in headers:
            if key.lower() == name:
                # Set, not appended: an id the app set itself is replaced.
                headers = [h for h in headers if h[0].lower() != name]
                break
        headers.append(id_header)
        # A new message: the app's own (perhaps a constant it reuses) stays untouched.
        return {**message, "headers": headers}

    def _complete(self) -> None:
        """The response is complete (its last byte is being handed over): tell the layers.

        In this order: the error layer's record of a 5xx, the access record, then the 5xx's
        Sentry event (so the access record is one of its breadcrumbs) — all inside the request's
        scope, and before a cancellation of this send could lose them.
        """
        self.completed = True
        error = self.error
        # (status checked here first: no call for the common, successful response)
        failed = error is not None and self.status >= 500 and error.response_completed(self)
        access = self.access
        if access is not None and not self.websocket:  # a WebSocket is recorded when it ends
            # The client left first (a framework may still answer it), or the status says.
            access._write(self, DISCONNECT if self.disconnected else by_status(self.status))
        if failed:
            error.capture_completed(self)  # type: ignore[union-attr]


def attach(scope: Scope, receive: Receive, send: Send) -> tuple[ResponseTracker, Receive, Send, bool]:
    """The tracker a layer works with, and the ``receive``/``send`` it hands inward.

    The tracker behind ``send`` when an asgi_obs layer outside made one (``send`` and
    ``receive`` are then passed on as they are); else a new one, wrapping them. The last item
    says whether the layer made it (and so must :meth:`~ResponseTracker.close` it at the end).
    """
    # A layer nested directly inside another gets the outer tracker's own bound ``send``;
    # anything in between (a framework's middleware) wraps it, and the layer tracks for itself.
    if type(send) is MethodType and type(send.__self__) is ResponseTracker:
        return send.__self__, receive, send, False
    tracker = ResponseTracker(scope, receive, send)
    return tracker, tracker.receive, tracker.send, True
