"""The request's trace as Sentry sees it: continued from the incoming headers, read back, handed on.

Imported once a Sentry client is active (through :mod:`asgi_obs.sentry._request`); imports
``sentry_sdk`` freely.
"""

from __future__ import annotations

from typing import Any

import sentry_sdk
from sentry_sdk.tracing_utils import has_tracing_enabled

from .._types import Scope
from ..context import RequestState
from ._events import SentryRequest

__all__ = [
    "continue_trace",
    "hand_trace_downstream",
    "incoming_sentry_headers",
    "sentry_trace",
    "trace_headers",
    "tracing_span",
]


def sentry_trace(trace_id: str, span_id: str, sampled: bool | None) -> str:
    """A ``sentry-trace`` value: ``trace-span``, plus ``-1``/``-0`` when sampling is decided."""
    if sampled is None:
        return f"{trace_id}-{span_id}"
    return f"{trace_id}-{span_id}-{'1' if sampled else '0'}"


def incoming_sentry_headers(state: RequestState) -> dict[str, str] | None:
    """The incoming trace as Sentry understands it (W3C ``traceparent`` translated)."""
    if state.parent_span_id is None:
        return None
    headers = {"sentry-trace": sentry_trace(state.trace_id, state.parent_span_id, state.sampled)}
    if state.baggage:
        headers["baggage"] = state.baggage
    return headers


_tracing: tuple[Any, bool] = (None, False)  # (client, has_tracing_enabled(its options))


def tracing_span() -> Any:
    # Events take their trace from the current span only when tracing is enabled (Scope.
    # apply_to_event); otherwise from the propagation context. Read it back the same way.
    global _tracing
    client = sentry_sdk.get_client()
    if _tracing[0] is not client:  # options do not change for a client: computed once
        _tracing = (client, bool(has_tracing_enabled(client.options)))
    return sentry_sdk.get_current_span() if _tracing[1] else None


def continue_trace(isolation: Any, state: RequestState) -> None:
    """Put the request's trace on ``isolation``: the incoming one, else ``state``'s new id."""
    incoming = incoming_sentry_headers(state)
    if incoming is not None:
        isolation.generate_propagation_context(incoming)
    else:
        # Not continue_trace({}): on sentry-sdk 2.12 that keeps the parent's context, giving
        # every request the same trace id.
        isolation.set_new_propagation_context()
    context = getattr(isolation, "_propagation_context", None)
    if context is None:  # pragma: no cover - a sentry-sdk without it: ask the public API
        trace = isolation.get_trace_context()
        if trace:
            state.trace_id = str(trace["trace_id"])
    else:
        if incoming is None:
            context.trace_id = state.trace_id  # ours: the logs already use it
        else:
            state.trace_id = context.trace_id  # what Sentry made of the incoming header
        # One span id for the request, whoever propagates it (sentry-trace or traceparent);
        # ours is also cheaper than the uuid4 Sentry would make.
        context.span_id = state.span_id


def hand_trace_downstream(asgi_scope: Scope, isolation: Any, state: RequestState) -> None:
    # A Sentry ASGI middleware inside ours (Starlette's and FastAPI's integrations wrap the
    # app) forks its own scope and continues the trace *from the headers*: give it ours.
    context = getattr(isolation, "_propagation_context", None) if isolation is not None else None
    if context is not None:
        value = sentry_trace(context.trace_id, context.span_id, state.sampled)
    else:  # no scope of ours: the request's own ids, as _continue_trace would have set them
        value = sentry_trace(state.trace_id, state.span_id, state.sampled)
    if state.sentry is None:
        state.sentry = SentryRequest()
    headers = []
    for header in asgi_scope.get("headers") or ():
        if header[0] == b"sentry-trace":
            state.sentry.client_trace = header[1]
        else:
            headers.append(header)
    headers.append((b"sentry-trace", value.encode("ascii")))
    asgi_scope["headers"] = headers
    state.sentry.injected_trace = True


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
