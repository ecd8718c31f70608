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

from ._core import Layers
from ._direct import DirectRoute
from ._emit import emit_record, level_name, report_internal_error
from ._response import ResponseTracker
from ._types import ASGIApp
from .classify import Classification, classify, record_status, task_cancelling
from .context import request_id_var, state_var, trace_id_var
from .fields import ACCESS_LOGGER, RESERVED_FIELDS
from .proxies import TrustedProxies
from .redaction import DEFAULT_REDACTED_PARAMS, QueryRedactor
from .request_info import PATH_MAX, USER_AGENT_MAX, capped_path, route_template

__all__ = ["AccessLogMiddleware", "route_template"]  # route_template: re-exported


class AccessLogMiddleware(Layers):
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
    * ``trusted_proxies``: CIDRs (or addresses) of the reverse proxies in front of the service:
      when the direct peer is one, ``client_ip`` is the first untrusted hop of
      ``X-Forwarded-For``, walked right to left (never its leftmost, client-chosen value).
      Empty (the default): ``scope["client"]``, so the server's ``--forwarded-allow-ips``
      stays authoritative;
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
        trusted_proxies: Iterable[str] = (),
        logger: str = ACCESS_LOGGER,
    ) -> None:
        if isinstance(skip_paths, str):
            raise ValueError("skip_paths must be a collection of paths, not a single string")
        bad = [p for p in skip_paths if not isinstance(p, str) or not p.startswith("/")]
        if bad:
            raise ValueError(f"skip_paths entries must be paths starting with '/': {bad!r}")
        if not isinstance(logger, str) or not logger:
            raise ValueError(f"logger={logger!r} must be a non-empty logger name")
        if isinstance(redact_query_params, str):
            raise ValueError("redact_query_params must be a collection of names, not a single string")
        if level_for is not None and not callable(level_for):
            raise ValueError("level_for must be a callable (status, outcome) -> level, or None")
        self.app = app
        self._skip_paths = frozenset(skip_paths)
        self._level_for = level_for
        self._redact = QueryRedactor(redact_query_params, max_length=max_query_length)
        self._proxies = TrustedProxies(trusted_proxies)
        self._client_ip = self._proxies.client_ip
        self._behind_proxies = bool(self._proxies)
        self._logger = logging.getLogger(logger)
        self._route = DirectRoute(self._logger)
        self._access = self  # the part Layers.__call__ runs (asgi_obs._core)

    def _write(self, tracker: ResponseTracker, verdict: Classification) -> None:
        """Build and write the access record from the tracker's facts.

        Called by the tracker as an HTTP response's last byte is handed over (so a background
        task that runs afterwards neither delays nor changes it, and a server that then cancels
        that send cannot turn it into a disconnect), and by :meth:`_finished`. Written directly
        as one line when nothing but asgi_obs' own handler would see the record
        (:mod:`asgi_obs._direct`), else as a ``LogRecord``: the same line either way.
        """
        try:
            scope = tracker.scope
            path: str = scope.get("path", "")
            if len(path) > PATH_MAX:  # (capped_path() only when needed: the hot path)
                path = capped_path(scope)
            outcome = verdict.outcome
            if outcome == "success" and scope.get("path") in self._skip_paths:
                return
            status = record_status(verdict, tracker.status)
            level = verdict.log_level if self._level_for is None else self._level_for(status, outcome)
            logger = self._logger
            if not logger.isEnabledFor(level):
                return  # nothing built for a record nobody wants
            method = "WEBSOCKET" if tracker.websocket else scope.get("method", "GET")  # method_of()
            message = f"{method} {path} {status}"
            state = state_var.get()
            bound = state.fields if state is not None else None
            direct = self._route.handler(level)
            if direct is not None and bound and not RESERVED_FIELDS.isdisjoint(bound):
                direct = None  # (bind() refuses such names; the full path decides what they mean)
            if direct is not None:
                if direct.drops(level, logger.name, outcome, path, message):
                    return
                # The line's dict, in the formatter's order: top keys, then the fields.
                record: dict[str, Any] = {
                    "timestamp": None,  # filled in by the handler, under its lock
                    "level": level_name(logger.name, level),  # the LogRecord path's own
                    "logger": logger.name,
                    "message": message,
                    "request_id": state.request_id if state is not None else request_id_var.get(),
                    "trace_id": state.trace_id if state is not None else trace_id_var.get(),
                }
            else:
                record = {}
            query = scope.get("query_string")
            client = scope.get("client")
            if tracker.headers_scanned:  # (by the context part, for its ids)
                raw_agent = tracker.user_agent
            else:
                raw_agent = None
                for name, value in scope.get("headers") or ():
                    if name == b"user-agent":
                        raw_agent = value
                        break
            user_agent = raw_agent.decode("latin-1")[:USER_AGENT_MAX] if raw_agent is not None else None
            duration_ns = time.perf_counter_ns() - tracker.start_ns
            record["method"] = method
            record["path"] = path
            record["route"] = route_template(scope)
            if query:  # absent, not null, when there is none
                record["query"] = self._redact(query)
            record["status"] = status
            record["duration_ms"] = (duration_ns + 500) // 1000 / 1000  # round(ms, 3), 5x cheaper
            if tracker.websocket:
                record["close_code"] = tracker.close_code
                record["messages_in"] = tracker.messages_in
                record["messages_out"] = tracker.messages_out
            record["request_bytes"] = tracker.request_bytes
            # Servers send no body for HEAD, whatever the app handed them.
            record["response_bytes"] = 0 if tracker.is_head else tracker.response_bytes
            if self._behind_proxies:
                record["client_ip"] = self._client_ip(scope)
            else:
                record["client_ip"] = client[0] if client else None
            record["user_agent"] = user_agent
            record["http_version"] = scope.get("http_version")
            record["outcome"] = outcome
            if bound:
                for key, value in bound.items():
                    record.setdefault(key, value)
            if direct is not None:
                direct.write_direct(record, time.time_ns() / 1e9)
            else:
                emit_record(logger, level, message, record, kind="access")
        except Exception as exc:  # noqa: BLE001 - the access record must never fail the request
            report_internal_error("building the access record", exc)

    def _finished(self, tracker: ResponseTracker, failure: BaseException | None) -> None:
        """Called when the app's call ended (``failure``: what it raised past the error part).

        A WebSocket is recorded now; an HTTP request whose response did not complete too (a
        complete one was recorded at its last byte).
        """
        if tracker.websocket:
            self._write(tracker, _websocket_verdict(tracker, failure))
        elif not tracker.completed:
            gone = tracker.disconnected or (failure is None and task_cancelling())
            self._write(
                tracker,
                classify(
                    tracker.status or None,
                    failure,
                    started=tracker.started,
                    completed=False,
                    disconnected=gone,
                ),
            )


def _websocket_verdict(tracker: ResponseTracker, failure: BaseException | None) -> Classification:
    if failure is not None:
        return classify(None, failure)
    if tracker.close_code == 1011:  # the app (or the error layer) closed with "internal error"
        return classify(500, None)
    return classify(tracker.status or 500, None)
