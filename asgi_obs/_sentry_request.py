"""Per-request Sentry work: the isolation scope, the trace, and capturing a failure.

Only imported once ``sentry_sdk`` is imported by the application and a client is active;
everything here therefore imports ``sentry_sdk`` freely.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import sentry_sdk
from sentry_sdk.tracing_utils import has_tracing_enabled
from sentry_sdk.utils import event_from_exception

from . import _marks
from ._types import Scope
from .context import RequestState

__all__ = ["capture_failure", "request_scope", "trace_headers"]

try:  # Sentry's own ASGI middleware marks the context it runs in (private, hence guarded).
    from sentry_sdk.integrations.asgi import _asgi_middleware_applied
except ImportError:  # pragma: no cover - a future sentry-sdk without it: always fork
    _asgi_middleware_applied = None


def _outer_sentry_middleware() -> bool:
    return _asgi_middleware_applied is not None and bool(_asgi_middleware_applied.get(False))


def _incoming_sentry_headers(state: RequestState) -> dict[str, str] | None:
    """The incoming trace as Sentry understands it (W3C ``traceparent`` translated)."""
    if state.parent_span_id is None:
        return None
    value = f"{state.trace_id}-{state.parent_span_id}"
    if state.sampled is not None:
        value += "-1" if state.sampled else "-0"
    headers = {"sentry-trace": value}
    if state.baggage:
        headers["baggage"] = state.baggage
    return headers


def _tracing_span() -> Any:
    # Events take their trace from the current span only when tracing is enabled (Scope.
    # apply_to_event); otherwise from the propagation context. Read it back the same way.
    if not has_tracing_enabled(sentry_sdk.get_client().options):
        return None
    return sentry_sdk.get_current_span()


def _sentry_trace_id(isolation: Any) -> str | None:
    span = _tracing_span()
    if span is not None:
        return str(span.trace_id)
    context = isolation.get_trace_context()
    return str(context["trace_id"]) if context else None


def _hand_trace_downstream(asgi_scope: Scope) -> None:
    # A Sentry ASGI middleware inside ours (Starlette's and FastAPI's integrations wrap the
    # app) forks its own scope and continues the trace *from the headers*: give it ours.
    traceparent = sentry_sdk.get_traceparent()
    if not traceparent:
        return
    headers = [h for h in asgi_scope.get("headers") or () if h[0] != b"sentry-trace"]
    headers.append((b"sentry-trace", traceparent.encode("ascii")))
    if not any(h[0] == b"baggage" for h in headers):
        baggage = sentry_sdk.get_baggage()
        if baggage:
            headers.append((b"baggage", baggage.encode("latin-1", "replace")))
    asgi_scope["headers"] = headers


@contextlib.contextmanager
def request_scope(state: RequestState, asgi_scope: Scope) -> Iterator[None]:
    """Run a request in its own Sentry isolation scope, on the request's trace.

    Entered by the context layer *before* it sets the context variables: forks the isolation
    scope (or reuses the one Sentry's own ASGI middleware forked outside us), clears inherited
    breadcrumbs, continues the incoming trace or starts a new one, tags ``request_id``, then
    reads Sentry's trace id back into ``state`` so logs and events agree.
    """
    from .sentry import ensure_registered

    ensure_registered()
    outer = _outer_sentry_middleware()
    fork = contextlib.nullcontext(sentry_sdk.get_isolation_scope()) if outer else sentry_sdk.isolation_scope()
    with fork as isolation:
        if not outer:
            isolation.clear_breadcrumbs()
            # The forked current scope inherits whatever span was current when the server
            # started the request (sentry-sdk 2.12 leaves a lifespan span there): not ours.
            sentry_sdk.get_current_scope().span = None
        if not (outer and _tracing_span() is not None):
            incoming = _incoming_sentry_headers(state)
            if incoming is not None:
                sentry_sdk.continue_trace(incoming)
            else:
                # Not continue_trace({}): on sentry-sdk 2.12 that keeps the parent's context,
                # giving every request the same trace id.
                isolation.set_new_propagation_context()
        trace_id = _sentry_trace_id(isolation)
        if trace_id:
            state.trace_id = trace_id
        isolation.set_tag("request_id", state.request_id)
        state.asgi_scope = asgi_scope
        _hand_trace_downstream(asgi_scope)
        yield


def trace_headers() -> dict[str, str]:
    """Sentry's ``sentry-trace`` and ``baggage`` for an outgoing call from this request."""
    headers: dict[str, str] = {}
    traceparent = sentry_sdk.get_traceparent()
    if traceparent:
        headers["sentry-trace"] = traceparent
    baggage = sentry_sdk.get_baggage()
    if baggage:
        headers["baggage"] = baggage
    return headers


def capture_failure(
    exc: BaseException | None,
    state: RequestState | None,
    *,
    scope: Scope,
    status: int | None,
    message: str,
) -> None:
    """Capture one event for a failure the error layer saw (see :class:`~asgi_obs.ErrorMiddleware`).

    An exception already reported during this request is skipped here (and would be dropped by
    the event processor anyway). Without an exception, a message event is captured only when
    nothing was reported for the request yet, grouped by route and status.
    """
    if exc is not None:
        if _marks.reported_in(exc, state):
            return
        event, hint = event_from_exception(
            exc,
            client_options=sentry_sdk.get_client().options,
            mechanism={"type": "asgi_obs", "handled": False},
        )
        sentry_sdk.capture_event(event, hint=hint)
        return
    if state is not None and state.sentry_events:
        return
    from .access_log import route_template

    route = route_template(scope) or scope.get("path", "")
    method = "WEBSOCKET" if scope["type"] == "websocket" else scope.get("method", "GET")
    event = {
        "level": "error",
        "logger": "asgi_obs.error",
        "message": f"{message}: {method} {route} {status}",
        "fingerprint": ["asgi_obs", "5xx", method, route, str(status)],
    }
    sentry_sdk.capture_event(event)
