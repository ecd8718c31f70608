"""Optional Sentry glue: one event per failure, the right breadcrumbs, matching trace ids.

Importing this module does not import ``sentry_sdk``; nothing here runs unless the application
uses Sentry. What happens, and when:

* the first request handled while a Sentry client is active registers (once) a global event
  processor, :func:`event_processor`. For every event it drops duplicates (an exception, or one
  of its ``__cause__``/``__context__`` chain, already reported during the same request),
  drops events made from access records, tags ``request_id``/``trace_id``, adds the request's
  method and URL when no integration did, and counts the request's events;
* each request runs in its own Sentry isolation scope, on the request's trace
  (:class:`~asgi_obs.RequestContextMiddleware`);
* the error layer captures unhandled exceptions (mechanism ``asgi_obs``) and 5xx responses.

For a Sentry set up by hand, :func:`before_send` and :func:`before_breadcrumb` are ready to
pass to ``sentry_sdk.init``; :func:`init_sentry` does all of it from environment variables.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import _marks
from ._types import Scope
from .classify import is_disconnect
from .context import RequestState, state_var

__all__ = [
    "before_breadcrumb",
    "before_send",
    "capture_failure",
    "ensure_registered",
    "event_processor",
    "init_sentry",
    "is_active",
    "request_scope",
    "trace_headers",
]

_ACCESS_LOGGER = "asgi_obs.access"
_ERROR_LOGGER = "asgi_obs.error"
_CHECKED = "asgi_obs_checked"
_registered = False
_register_lock = threading.Lock()

if TYPE_CHECKING:
    from sentry_sdk._types import Event, Hint
else:
    Event = Hint = dict


def is_active() -> bool:
    """Tell whether ``sentry_sdk`` is imported and a client that sends events is active.

    ``sentry_sdk.init()`` without a DSN makes an "active" client with no transport: events go
    nowhere, so asgi_obs treats it as no Sentry (no scope forking, no ``sentry-trace`` out).
    """
    sdk = sys.modules.get("sentry_sdk")
    if sdk is None:
        return False
    client = sdk.get_client()
    return bool(client.is_active()) and getattr(client, "transport", None) is not None


def _request_data(scope: Scope) -> dict[str, Any]:
    server = scope.get("server")
    host = f"{server[0]}:{server[1]}" if server and server[1] is not None else (server[0] if server else "")
    query = scope.get("query_string") or b""
    data: dict[str, Any] = {
        "method": scope.get("method", "GET"),
        "url": f"{scope.get('scheme', 'http')}://{host}{scope.get('root_path', '')}{scope.get('path', '')}",
    }
    if query:
        from .redaction import QueryRedactor

        data["query_string"] = QueryRedactor()(query)
    return data


def event_processor(event: Event, hint: Hint | None) -> Event | None:
    """Drop duplicate and access-record events; tag and count the others.

    Runs for every event of the process (registered by :func:`ensure_registered`), before
    ``before_send``.
    """
    if hint is not None:
        hint[_CHECKED] = True
    if event.get("logger") == _ACCESS_LOGGER:
        return None
    state = state_var.get()
    exc_info = hint.get("exc_info") if hint else None
    exc = exc_info[1] if exc_info else None
    if isinstance(exc, BaseException):
        if _marks.reported_in(exc, state):
            return None
        if state is not None and is_disconnect(exc):
            return None  # a client that left (a framework's integration may report it): no failure
        _marks.mark_reported(exc, state)
        if state is not None:
            state.sentry_failures += 1
    if state is not None:
        state.sentry_events += 1
        tags = event.get("tags")
        if not isinstance(tags, dict):
            tags = event["tags"] = {}
        tags.setdefault("request_id", state.request_id)
        tags.setdefault("trace_id", state.trace_id)
        if "request" not in event and state.asgi_scope is not None:
            event["request"] = _request_data(state.asgi_scope)
    return event


def ensure_registered() -> None:
    """Register :func:`event_processor` globally, once per process, and ignore our error logger.

    Called automatically by the first request handled with Sentry active and by
    :func:`init_sentry`. The error layer captures its own, richer event for each failure, so
    Sentry's logging integration is told to ignore ``asgi_obs.error`` records.
    """
    global _registered
    if _registered:
        return
    with _register_lock:
        _register_once()


def _register_once() -> None:
    global _registered
    if not _registered:
        from sentry_sdk.integrations.logging import ignore_logger
        from sentry_sdk.scope import add_global_event_processor

        add_global_event_processor(event_processor)
        ignore_logger(_ERROR_LOGGER)
        _registered = True


def before_send(event: Event, hint: Hint) -> Event | None:
    """``before_send`` hook with asgi_obs' duplicate dropping, for a hand-made ``sentry_sdk.init``.

    The global processor normally does this work; this hook makes sure it is registered and
    covers events that reached ``before_send`` without passing it.
    """
    ensure_registered()
    if hint.get(_CHECKED):
        return event
    return event_processor(event, hint)


def before_breadcrumb(crumb: dict[str, Any], hint: Hint | None) -> dict[str, Any] | None:
    """``before_breadcrumb`` hook: no breadcrumb for records the log output suppresses.

    Sentry's logging integration bypasses handler filters; this applies the installed
    :class:`~asgi_obs.SuppressUnwantedLogsFilter` (if any) to the record behind the breadcrumb.
    """
    record = hint.get("log_record") if hint else None
    if record is not None:
        from .logging_config import active_suppress_filter

        suppress = active_suppress_filter()
        if suppress is not None and suppress.should_suppress(record):
            return None
    return crumb


def _chain(first: Callable[..., Any], user: Callable[..., Any] | None) -> Callable[..., Any]:
    if user is None:
        return first

    def chained(item: Any, hint: Any) -> Any:
        item = first(item, hint)
        return None if item is None else user(item, hint)

    chained.__name__ = f"{first.__name__}_then_{getattr(user, '__name__', 'user_hook')}"
    return chained


def _sample_rate(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        rate = float(value)
    except (TypeError, ValueError):
        rate = -1.0
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"SENTRY_TRACES_SAMPLE_RATE={value!r} is not a number between 0 and 1")
    return rate


def init_sentry(**options: Any) -> bool:
    """Initialise Sentry from the environment, wired for asgi_obs; ``False`` without a DSN.

    Reads ``SENTRY_DSN``, ``SENTRY_ENVIRONMENT``, ``SENTRY_RELEASE`` and
    ``SENTRY_TRACES_SAMPLE_RATE`` (an invalid rate raises ``ValueError``); keyword ``options``
    win over the environment and go to ``sentry_sdk.init``. Without a DSN it returns ``False``
    and changes nothing. Otherwise INFO records become breadcrumbs and ERROR records events
    (``LoggingIntegration(level=INFO, event_level=ERROR)`` unless ``integrations`` has one), the
    user's ``before_send``/``before_breadcrumb`` run *after* ours (chained, never replaced), the
    event processor is registered, and it returns ``True``.

    Breadcrumbs need the loggers' level at INFO or below. With FastAPI, set
    ``failed_request_status_codes`` on ``StarletteIntegration``/``FastApiIntegration`` if you
    change which statuses are failures. Call it before building the app: framework integrations
    patch route construction.
    """
    dsn = options.pop("dsn", None) or os.environ.get("SENTRY_DSN")
    if not dsn:
        return False
    import sentry_sdk
    from sentry_sdk.integrations.logging import LoggingIntegration

    rate = _sample_rate(options.pop("traces_sample_rate", os.environ.get("SENTRY_TRACES_SAMPLE_RATE")))
    if rate is not None:
        options["traces_sample_rate"] = rate
    for key, env in (("environment", "SENTRY_ENVIRONMENT"), ("release", "SENTRY_RELEASE")):
        value = options.get(key) or os.environ.get(env)
        if value:
            options[key] = value
    integrations = list(options.pop("integrations", []))
    if not any(isinstance(i, LoggingIntegration) for i in integrations):
        integrations.append(LoggingIntegration(level=logging.INFO, event_level=logging.ERROR))
    options["before_send"] = _chain(before_send, options.get("before_send"))
    options["before_breadcrumb"] = _chain(before_breadcrumb, options.get("before_breadcrumb"))
    sentry_sdk.init(dsn=dsn, integrations=integrations, **options)
    ensure_registered()
    return True


def request_scope(state: RequestState, asgi_scope: Scope, sentry_inside: bool = False) -> Any:
    """Context manager running one request in its own Sentry scope (see the context layer).

    ``sentry_inside``: the app under the stack is one Sentry's integration wraps
    (:func:`sentry_wraps`).
    """
    return _per_request().RequestScope(state, asgi_scope, sentry_inside)


def sentry_wraps(app: Any) -> bool:
    """Tell whether ``app`` is a Starlette/FastAPI app that Sentry's integration wraps."""
    return bool(_per_request().sentry_wraps(app))


_per_request_module: Any = None


def _per_request() -> Any:
    # asgi_obs._sentry_request imports sentry_sdk: only once the application has, and once.
    global _per_request_module
    if _per_request_module is None:
        from . import _sentry_request

        _per_request_module = _sentry_request
    return _per_request_module


def trace_headers() -> dict[str, str]:
    """Sentry's propagation headers for an outgoing call (see :func:`~asgi_obs.outgoing_headers`)."""
    headers: dict[str, str] = _per_request().trace_headers()
    return headers


def capture_failure(
    exc: BaseException | None,
    state: RequestState | None,
    *,
    scope: Scope,
    status: int | None,
    message: str,
) -> None:
    """Capture the event of one failure (called by :class:`~asgi_obs.ErrorMiddleware`)."""
    _per_request().capture_failure(exc, state, scope=scope, status=status, message=message)
