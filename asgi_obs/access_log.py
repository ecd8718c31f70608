"""``AccessLogMiddleware``: exactly one record per request, written when the request finishes.

Place it inside :class:`~asgi_obs.RequestContextMiddleware` (so the record carries the ids) and
outside :class:`~asgi_obs.ErrorMiddleware` (so it sees the 500 that layer sends, and records
``aborted`` when that layer re-raises). ``build_stack`` does exactly this.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from ._emit import emit_record, report_internal_error
from ._types import ASGIApp, Message, Receive, Scope, Send
from .classify import Classification, by_status, classify, task_cancelling
from .context import ACCESS_LAYER, claim_layer, state_var
from .redaction import DEFAULT_REDACTED_PARAMS, QueryRedactor
from .request_info import USER_AGENT_MAX, frame_size, route_template

__all__ = ["AccessLogMiddleware", "route_template"]  # route_template: re-exported

_BODY_EXTENSIONS = frozenset({"http.response.pathsend", "http.response.zerocopysend"})


class AccessLogMiddleware:
    """Write one record on ``asgi_obs.access`` per request, when the request finishes.

    *When*: right after the last body byte is handed to the server (so a background task that
    runs afterwards neither delays nor changes it), when the client disconnects, or when the app
    finishes without completing the response. A WebSocket is recorded when it closes.

    The message is ``"GET /users/5 200"``; the fields are ``method``, ``path``, ``route``,
    ``query`` (redacted, absent when empty), ``status`` (``499`` when the client went away
    first), ``duration_ms``, ``request_bytes``, ``response_bytes`` (body bytes; ``0`` for
    ``HEAD``, whose body the server drops), ``client_ip``, ``user_agent``, ``http_version``,
    ``outcome`` (see :func:`~asgi_obs.classify`), plus any :func:`~asgi_obs.bind` fields.
    The level comes from the classification (INFO, or WARNING for ``server_error``/``aborted``)
    unless ``level_for(status, outcome)`` says otherwise.

    Options:

    * ``skip_paths``: exact paths (``/health``) whose *successful* requests are not recorded;
    * ``level_for``: callable ``(status, outcome) -> level``; ``None`` keeps the default;
    * ``redact_query_params``: parameter names whose values become ``[REDACTED]``
      (default :data:`~asgi_obs.redaction.DEFAULT_REDACTED_PARAMS`); to extend, pass
      ``DEFAULT_REDACTED_PARAMS | {"session"}``;
    * ``max_query_length``: longer queries are cut (after redaction);
    * ``logger``: the logger name.

    A failure while writing the record is reported on stderr and never reaches the request.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        skip_paths: Iterable[str] = (),
        level_for: Callable[[int, str], int] | None = None,
        redact_query_params: Iterable[str] = DEFAULT_REDACTED_PARAMS,
        max_query_length: int = 2048,
        logger: str = "asgi_obs.access",
    ) -> None:
        if isinstance(skip_paths, str):
            raise ValueError("skip_paths must be a collection of paths, not a single string")
        bad = [p for p in skip_paths if not isinstance(p, str) or not p.startswith("/")]
        if bad:
            raise ValueError(f"skip_paths entries must be paths starting with '/': {bad!r}")
        if level_for is not None and not callable(level_for):
            raise ValueError("level_for must be a callable (status, outcome) -> level, or None")
        self.app = app
        self._skip_paths = frozenset(skip_paths)
        self._level_for = level_for
        self._redact = QueryRedactor(redact_query_params, max_length=max_query_length)
        self._logger = logging.getLogger(logger)

    def _write(
        self,
        scope: Scope,
        status: int,
        verdict: Classification,
        duration_ns: int,
        fields: dict[str, Any],
    ) -> None:
        """Build and write the access record; ``fields`` are the layer-specific ones."""
        try:
            path: str = scope.get("path", "")
            outcome = verdict.outcome
            if outcome == "success" and path in self._skip_paths:
                return
            level = verdict.log_level if self._level_for is None else self._level_for(status, outcome)
            logger = self._logger
            if not logger.isEnabledFor(level):
                return  # nothing built for a record nobody wants
            method = "WEBSOCKET" if scope["type"] == "websocket" else scope.get("method", "GET")
            query = scope.get("query_string")
            client = scope.get("client")
            user_agent = None
            for name, value in scope.get("headers") or ():
                if name == b"user-agent":
                    user_agent = value.decode("latin-1")[:USER_AGENT_MAX]
                    break
            record: dict[str, Any] = {
                "method": method,
                "path": path,
                "route": route_template(scope),
                "query": self._redact(query) if query else None,
                "status": status,
                "duration_ms": (duration_ns + 500) // 1000 / 1000,  # round(ms, 3), 5x cheaper
                **fields,
                "client_ip": client[0] if client else None,
                "user_agent": user_agent,
                "http_version": scope.get("http_version"),
                "outcome": outcome,
            }
            if not query:
                del record["query"]  # absent, not null, when there is none
            if method == "HEAD":  # servers send no body for HEAD, whatever the app handed them
                record["response_bytes"] = 0
            state = state_var.get()
            if state is not None and state.fields:
                for key, value in state.fields.items():
                    record.setdefault(key, value)
            emit_record(logger, level, f"{method} {path} {status}", record)
        except Exception as exc:  # noqa: BLE001 - the access record must never fail the request
            report_internal_error("building the access record", exc)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not claim_layer(scope, ACCESS_LAYER):  # a stack outside already does this for this request
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":  # HTTP is handled right here: one coroutine less per request
            if scope["type"] == "websocket":
                await self._websocket(scope, receive, send)
            else:
                await self.app(scope, receive, send)
            return
        start = time.perf_counter_ns()
        status = 0
        started = completed = disconnected = False
        request_bytes = response_bytes = 0

        async def counting_receive() -> Message:
            nonlocal request_bytes, disconnected
            message = await receive()
            if message["type"] == "http.request":
                request_bytes += len(message.get("body", b""))
            elif message["type"] == "http.disconnect" and not completed:
                disconnected = True
            return message

        async def timing_send(message: Message) -> None:
            nonlocal status, started, completed, response_bytes, disconnected
            message_type = message["type"]
            if message_type == "http.response.body":
                response_bytes += len(message.get("body", b""))
                last = not message.get("more_body", False)
            elif message_type == "http.response.start":
                if not started:  # a second start is the server's to refuse, not a new status
                    status = message["status"]
                    started = True
                last = False
            else:  # http.response.pathsend / zerocopysend / trailers / extensions
                last = message_type in _BODY_EXTENSIONS and not message.get("more_body", False)
            try:
                await send(message)
            except OSError:
                # The server could not write: the client is gone (uvicorn's ClientDisconnected).
                disconnected = True
                raise
            if last and not completed:
                # The request is complete now: the record is written before anything the app
                # does afterwards (background tasks), and times the response, not them.
                completed = True
                if disconnected:  # the client left first (a framework may still answer it)
                    verdict, sent = classify(status, None, disconnected=True), 499
                else:
                    verdict = by_status(status)
                    sent = status
                self._write(
                    scope,
                    sent,
                    verdict,
                    time.perf_counter_ns() - start,
                    {"request_bytes": request_bytes, "response_bytes": response_bytes},
                )

        failure: BaseException | None = None
        try:
            await self.app(scope, counting_receive, timing_send)
        except BaseException as exc:
            failure = exc
            raise
        finally:
            if not completed:
                gone = disconnected or (failure is None and task_cancelling())
                verdict = classify(
                    status or None, failure, started=started, completed=False, disconnected=gone
                )
                self._write(
                    scope,
                    499 if verdict.outcome == "disconnect" else (status or 500),
                    verdict,
                    time.perf_counter_ns() - start,
                    {"request_bytes": request_bytes, "response_bytes": response_bytes},
                )

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        start = time.perf_counter_ns()
        status = 0
        close_code: int | None = None
        messages_in = messages_out = bytes_in = bytes_out = 0

        async def counting_receive() -> Message:
            nonlocal messages_in, bytes_in, close_code
            message = await receive()
            message_type = message["type"]
            if message_type == "websocket.receive":
                messages_in += 1
                bytes_in += frame_size(message)
            elif message_type == "websocket.disconnect" and close_code is None:
                close_code = message.get("code", 1005)
            return message

        async def counting_send(message: Message) -> None:
            nonlocal messages_out, bytes_out, status, close_code
            message_type = message["type"]
            if message_type == "websocket.send":
                messages_out += 1
                bytes_out += frame_size(message)
            elif message_type == "websocket.accept":
                status = 101
            elif message_type == "websocket.close":
                if status == 0:
                    status = 403  # closed before accept: the server answers 403
                if close_code is None:
                    close_code = message.get("code", 1000)
            elif message_type == "websocket.http.response.start":
                status = message["status"]
            await send(message)

        failure: BaseException | None = None
        try:
            await self.app(scope, counting_receive, counting_send)
        except BaseException as exc:
            failure = exc
            raise
        finally:
            if failure is not None:
                verdict = classify(None, failure)
            elif close_code == 1011:  # the app (or the error layer) closed with "internal error"
                verdict = classify(500, None)
            else:
                verdict = classify(status or 500, None)
            sent = 499 if verdict.outcome == "disconnect" else (status or 500)
            self._write(
                scope,
                sent,
                verdict,
                time.perf_counter_ns() - start,
                {
                    "close_code": close_code,
                    "messages_in": messages_in,
                    "messages_out": messages_out,
                    "request_bytes": bytes_in,
                    "response_bytes": bytes_out,
                },
            )
