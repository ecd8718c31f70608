"""What a Sentry event learns from its request, and what it must never carry.

Called by the event processor for events made during a request (``_events.event_processor``):
tags and the bound fields, the request's method and URL; in the hint, what the final event must
get fixed: the *redacted* query, the headers as the client sent them, and the request's secrets
(``Authorization``, ``Cookie``... values, redacted query values). The client's ``before_send``
— wired once per client by :func:`wire_client` — applies them and replaces every occurrence of
a secret anywhere in the event: frame local variables are only turned into text after the
processors ran, and framework integrations add request data in later processors, so that is
the one place that sees the final event. Access-record breadcrumbs are reshaped to fit
sentry-sdk's limits.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, NamedTuple

from .._emit import record_kind
from .._scrub import header_secrets, scrub
from .._types import Scope
from ..context import RequestState, state_var
from ..fields import ACCESS_FIELDS
from ..redaction import QueryRedactor

__all__ = ["FIXES_KEY", "access_crumb_data", "enrich", "late_enricher", "wire_client"]

#: Hint key holding what ``before_send`` must fix in the final event (the request's secrets, its
#: redacted query, the client's own ``sentry-trace``), from the processor.
FIXES_KEY = "asgi_obs_fixes"
_DEFAULT_REDACTOR = QueryRedactor()
_WIRED = "__asgi_obs_wired__"
# sentry-sdk keeps 10 keys of a breadcrumb's data (its databag breadth) and tags of 32/200.
_CRUMB_KEYS = 10
_TAG_KEY_MAX = 32
_TAG_VALUE_MAX = 200
_ACCESS_CRUMB_KEYS = ("method", "route", "status", "outcome", "duration_ms", "request_id", "trace_id")
# The access record's own fields (the rest of the data is bind() fields).
_LAYER_FIELDS = frozenset(ACCESS_FIELDS) | {
    "close_code",
    "messages_in",
    "messages_out",
    "request_id",
    "trace_id",
}


def _request_data(scope: Scope) -> dict[str, Any]:
    server = scope.get("server")
    host = f"{server[0]}:{server[1]}" if server and server[1] is not None else (server[0] if server else "")
    return {
        "method": scope.get("method", "GET"),
        "url": f"{scope.get('scheme', 'http')}://{host}{scope.get('root_path', '')}{scope.get('path', '')}",
    }


def _restore_headers(request: dict[str, Any], original: bytes | None) -> None:
    # The context layer hands its trace to a Sentry middleware inside the app as a
    # ``sentry-trace`` request header; the event shows what the client sent.
    headers = request.get("headers")
    if not isinstance(headers, dict):
        return
    for name in [key for key in headers if isinstance(key, str) and key.lower() == "sentry-trace"]:
        if original is None:
            del headers[name]
        else:
            headers[name] = original.decode("latin-1")


def enrich(event: Any, hint: Any, state: RequestState) -> None:
    """Add the request's tags, fields and data to ``event``; its secrets to ``hint``."""
    tags = event.get("tags")
    if not isinstance(tags, dict):
        tags = event["tags"] = {}
    tags.setdefault("request_id", state.request_id)
    tags.setdefault("trace_id", state.trace_id)
    fields = state.fields
    if fields:
        for key, value in fields.items():
            if isinstance(value, (str, int, float, bool)) and len(key) <= _TAG_KEY_MAX:
                tags.setdefault(key, str(value)[:_TAG_VALUE_MAX])
        contexts = event.get("contexts")
        if not isinstance(contexts, dict):
            contexts = event["contexts"] = {}
        contexts.setdefault("bound_fields", dict(fields))
    scope = state.asgi_scope
    if scope is None:
        return
    redactor = state.redactor or _DEFAULT_REDACTOR
    query = scope.get("query_string") or b""
    if not isinstance(event.get("request"), dict):
        event["request"] = _request_data(scope)
        if query:
            event["request"]["query_string"] = redactor(query)
    if hint is not None:
        # Applied by the wired before_send: framework integrations add their request data in
        # scope processors, which run after this global one.
        sentry_state = state.sentry
        hint[FIXES_KEY] = _Fixes(
            _secrets(state, scope, redactor, query),
            redactor(query) if query else None,
            sentry_state is not None and sentry_state.injected_trace,
            sentry_state.client_trace if sentry_state is not None else None,
        )


def _secrets(state: RequestState, scope: Scope, redactor: QueryRedactor, query: bytes) -> tuple[str, ...]:
    """The request's secret values: its credential headers, the response's Set-Cookie, the query's."""
    found = header_secrets(scope.get("headers") or ())
    tracker = state.tracker
    response_headers = tracker.response_headers if tracker is not None else None
    if response_headers:
        found += header_secrets(response_headers)
    return found + (redactor.secret_values(query) if query else ())


class _Fixes(NamedTuple):
    secrets: tuple[str, ...]
    query: str | None
    injected_trace: bool
    client_trace: bytes | None


def _apply(event: Any, fixes: _Fixes) -> Any:
    request = event.get("request")
    if isinstance(request, dict):
        if fixes.query is not None and "query_string" in request:
            request["query_string"] = fixes.query
        if fixes.injected_trace:
            _restore_headers(request, fixes.client_trace)
    return scrub(event, fixes.secrets) if fixes.secrets else event


def late_enricher(state: RequestState) -> Callable[[Any, Any], Any]:
    """A scope event processor doing :func:`enrich` for events sent after the request's context
    was reset (an outer Sentry middleware's transaction), on the scope that is the request's."""

    def processor(event: Any, hint: Any) -> Any:
        if state_var.get() is None:  # inside the request, the global processor did it
            enrich(event, hint, state)
        return event

    return processor


def access_crumb_data(record: logging.LogRecord, data: dict[str, Any]) -> dict[str, Any]:
    """The data of an access record's breadcrumb: what matters first, within sentry-sdk's 10 keys."""
    attrs = record.__dict__
    shaped: dict[str, Any] = {}
    for key in _ACCESS_CRUMB_KEYS:
        value = attrs.get(key)
        if key == "route" and value is None:
            key, value = "path", attrs.get("path")
        shaped[key] = value
    for key, value in data.items():  # then the bound fields, as many as fit
        if len(shaped) >= _CRUMB_KEYS:
            break
        if key not in _LAYER_FIELDS:
            shaped.setdefault(key, value)
    return shaped


def _scrubbing(user: Callable[..., Any] | None) -> Callable[..., Any]:
    def before_send(event: Any, hint: Any) -> Any:
        if user is not None:
            event = user(event, hint)
            if event is None:
                return None
        fixes = hint.get(FIXES_KEY) if isinstance(hint, dict) else None
        return _apply(event, fixes) if fixes is not None else event

    setattr(before_send, _WIRED, True)
    return before_send


def _shaping(user: Callable[..., Any] | None) -> Callable[..., Any]:
    def before_breadcrumb(crumb: Any, hint: Any) -> Any:
        record = hint.get("log_record") if isinstance(hint, dict) else None
        if record is not None and record_kind(record) == "access" and isinstance(crumb.get("data"), dict):
            crumb["data"] = access_crumb_data(record, crumb["data"])
        return user(crumb, hint) if user is not None else crumb

    setattr(before_breadcrumb, _WIRED, True)
    return before_breadcrumb


def wire_client(client: Any) -> None:
    """Add asgi_obs' scrubbing (after the user's hooks) and crumb shaping to ``client``, once.

    Its ``before_send`` and ``before_send_transaction`` scrub the request's secrets from the
    final event; its ``before_breadcrumb`` reshapes access-record breadcrumbs.
    """
    options = getattr(client, "options", None)
    if not isinstance(options, dict) or getattr(options.get("before_send"), _WIRED, False):
        return
    for name in ("before_send", "before_send_transaction"):
        options[name] = _scrubbing(options.get(name))
    options["before_breadcrumb"] = _shaping(options.get("before_breadcrumb"))
