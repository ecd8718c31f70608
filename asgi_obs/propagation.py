"""Carrying the request's ids to outgoing HTTP calls."""

from __future__ import annotations

import sys
from collections.abc import Generator
from typing import Any

from . import _otel, sentry
from .context import state_var
from .ids import parse_sentry_trace

__all__ = ["inject_headers", "outgoing_headers"]

_modules = sys.modules
_OTEL_TRACE = _otel.OTEL_TRACE_MODULE


def outgoing_headers() -> dict[str, str]:
    """Return the headers that continue the current request on an outgoing call.

    Inside a request: the request-id header (``X-Request-ID`` or the configured name), a W3C
    ``traceparent`` with the request's trace id (the sampling flag is the incoming one, else
    "not sampled"), and, when Sentry is active, Sentry's ``sentry-trace`` and ``baggage`` (the
    ``traceparent`` then announces the same span and sampling decision as ``sentry-trace``).
    With OpenTelemetry, when the span current at the time of the call belongs to the request's
    trace, ``traceparent`` announces that span and its sampled flag instead, as OpenTelemetry's
    own propagator would. Outside a request: ``{}``. A new dict on every call, safe to modify.
    """
    state = state_var.get()
    if state is None:
        return {}
    trace_id, span_id, sampled = state.trace_id, state.span_id, bool(state.sampled)
    sentry_headers: dict[str, str] = {}
    if sentry.is_active():
        sentry_headers = sentry.request_module().trace_headers()
        # With a Sentry transaction running, its span and sampling decision are the ones to
        # announce; traceparent then says the same as sentry-trace.
        announced = parse_sentry_trace(sentry_headers.get("sentry-trace", ""))
        if announced is not None:
            trace_id, span_id = announced.trace_id, announced.parent_span_id
            if announced.sampled is not None:
                sampled = announced.sampled
    otel_trace = _modules.get(_OTEL_TRACE)
    if otel_trace is not None:
        span = _otel.current_span(otel_trace)
        # Only a span of the request's own trace: another one (a root span the code started)
        # would send the callee's logs to a trace id that none of this request's lines carry.
        if span is not None and span.trace_id == trace_id:
            span_id, sampled = span.parent_span_id, bool(span.sampled)
    headers = {
        state.id_header: state.request_id,
        "traceparent": f"00-{trace_id}-{span_id}-{'01' if sampled else '00'}",
    }
    headers.update(sentry_headers)
    return headers


class _Done:
    """An awaitable that is already finished (see :func:`inject_headers`)."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, None]:
        return
        yield  # pragma: no cover - makes this a generator


_DONE = _Done()


def inject_headers(request: Any) -> _Done:
    """httpx ``request`` event hook adding :func:`outgoing_headers` to every outgoing request.

    Runs when httpx is about to send the request. Works for both clients::

        httpx.Client(event_hooks={"request": [inject_headers]})
        httpx.AsyncClient(event_hooks={"request": [inject_headers]})

    (the headers are set synchronously; the returned object is a finished awaitable, which
    ``AsyncClient`` awaits and ``Client`` ignores). Headers the caller set explicitly win.
    """
    headers = request.headers
    for name, value in outgoing_headers().items():
        if name not in headers:
            headers[name] = value
    return _DONE
