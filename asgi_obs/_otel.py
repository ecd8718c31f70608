"""OpenTelemetry interop: the current OTel span's trace, read without importing OpenTelemetry.

Callers pass the ``opentelemetry.trace`` module they found in ``sys.modules``: when the
application never imported OpenTelemetry, nothing here runs and nothing is imported. When it
did, OpenTelemetry's current span (e.g. the server span of ``opentelemetry-instrumentation-asgi``'s
``OpenTelemetryMiddleware`` outside the stack, which has already continued an incoming
``traceparent``) is the trace the request belongs to.
"""

from __future__ import annotations

from types import ModuleType

from .ids import IncomingTrace

__all__ = ["OTEL_TRACE_MODULE", "current_span"]

#: The module whose presence in ``sys.modules`` means the application uses OpenTelemetry.
OTEL_TRACE_MODULE = "opentelemetry.trace"


def current_span(otel_trace: ModuleType) -> IncomingTrace | None:
    """Return the current OpenTelemetry span as (trace id, span id, sampled), or ``None``.

    Called when a request starts (its trace) and on each outgoing call (the parent span to
    announce). ``None`` when no valid span is current (OpenTelemetry imported but no span
    started, or no SDK configured: the API then hands out an invalid span), or when the API
    misbehaves: OpenTelemetry trouble never breaks a request.
    """
    try:
        context = otel_trace.get_current_span().get_span_context()
        if not context.is_valid:
            return None
        # to_bytes: the fastest rendering, and it refuses an id out of range (OverflowError);
        # is_valid already excluded all-zero ids.
        trace_id = context.trace_id.to_bytes(16, "big").hex()
        span_id = context.span_id.to_bytes(8, "big").hex()
        sampled = bool(int(context.trace_flags) & 1)
    except Exception:  # noqa: BLE001 - a broken or foreign OTel API: fall back to the headers
        return None
    return IncomingTrace(trace_id, span_id, sampled)
