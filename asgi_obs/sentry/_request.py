"""Per-request Sentry work: the isolation scope, the trace, and capturing a failure.

Only imported (through :func:`asgi_obs.sentry.request_module`) once ``sentry_sdk`` is imported
by the application and a client is active; everything here therefore imports ``sentry_sdk``
freely.
"""

from __future__ import annotations

from typing import Any

import sentry_sdk
import sentry_sdk.scope as _scope_module
from sentry_sdk.tracing_utils import has_tracing_enabled
from sentry_sdk.utils import event_from_exception

from .. import _marks
from .._types import Scope
from ..context import RequestState
from ..fields import method_of
from ..request_info import route_template
from ._enrich import wire_client
from ._events import SentryRequest, ensure_registered

__all__ = ["RequestScope", "capture_failure", "sentry_wraps", "trace_headers"]

try:  # Sentry's own ASGI middleware marks the context it runs in (private, hence guarded).
    from sentry_sdk.integrations.asgi import _asgi_middleware_applied
except ImportError:  # pragma: no cover - a future sentry-sdk without it: always fork
    _asgi_middleware_applied = None


def _outer_sentry_middleware() -> bool:
    return _asgi_middleware_applied is not None and bool(_asgi_middleware_applied.get(False))


def _sentry_trace(trace_id: str, span_id: str, sampled: bool | None) -> str:
    """A ``sentry-trace`` value: ``trace-span``, plus ``-1``/``-0`` when sampling is decided."""
    if sampled is None:
        return f"{trace_id}-{span_id}"
    return f"{trace_id}-{span_id}-{'1' if sampled else '0'}"


def _incoming_sentry_headers(state: RequestState) -> dict[str, str] | None:
    """The incoming trace as Sentry understands it (W3C ``traceparent`` translated)."""
    if state.parent_span_id is None:
        return None
    headers = {"sentry-trace": _sentry_trace(state.trace_id, state.parent_span_id, state.sampled)}
    if state.baggage:
        headers["baggage"] = state.baggage
    return headers


_tracing: tuple[Any, bool] = (None, False)  # (client, has_tracing_enabled(its options))


def _tracing_span() -> Any:
    # Events take their trace from the current span only when tracing is enabled (Scope.
    # apply_to_event); otherwise from the propagation context. Read it back the same way.
    global _tracing
    client = sentry_sdk.get_client()
    if _tracing[0] is not client:  # options do not change for a client: computed once
        _tracing = (client, bool(has_tracing_enabled(client.options)))
    return sentry_sdk.get_current_span() if _tracing[1] else None


def _continue_trace(isolation: Any, state: RequestState) -> None:
    """Put the request's trace on ``isolation``: the incoming one, else ``state``'s new id."""
    incoming = _incoming_sentry_headers(state)
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


def _hand_trace_downstream(asgi_scope: Scope, isolation: Any, state: RequestState) -> None:
    # A Sentry ASGI middleware inside ours (Starlette's and FastAPI's integrations wrap the
    # app) forks its own scope and continues the trace *from the headers*: give it ours.
    context = getattr(isolation, "_propagation_context", None) if isolation is not None else None
    if context is not None:
        value = _sentry_trace(context.trace_id, context.span_id, state.sampled)
    else:  # no scope of ours: the request's own ids, as _continue_trace would have set them
        value = _sentry_trace(state.trace_id, state.span_id, state.sampled)
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


# Sentry's Starlette integration replaces Starlette.__call__ with this function, which runs
# every request of the app in SentryAsgiMiddleware while the integration is enabled.
_PATCHED_STARLETTE_CALL = "_sentry_patched_asgi_app"
# Methods that middleware continues the trace for: all of them on sentry-sdk 2.12, a
# configurable set (these by default) on later versions.
_TRACED_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})


def sentry_wraps(app: Any) -> bool:
    """Tell whether ``app`` is a Starlette (or FastAPI) app that Sentry's integration patched.

    Decided once per context layer, on the app it wraps (through the other asgi_obs layers).
    Whether the integration is enabled is checked per request.
    """
    return getattr(type(app).__call__, "__name__", "") == _PATCHED_STARLETTE_CALL


_traced: tuple[Any, frozenset[str]] = (None, frozenset())  # (client, methods) for the last client


def _starlette_integration(client: Any) -> Any:
    try:
        from sentry_sdk.integrations.starlette import StarletteIntegration
    except Exception:  # noqa: BLE001 - no Starlette, no patched app: nothing traced inside
        return None
    return client.get_integration(StarletteIntegration)


def _methods_traced_inside() -> frozenset[str]:
    global _traced
    client = sentry_sdk.get_client()
    if _traced[0] is client:  # a client's integrations do not change: computed once
        return _traced[1]
    methods: frozenset[str] = frozenset()
    integration = _starlette_integration(client)
    if integration is not None:  # not enabled: the patched app runs without the middleware
        configured = getattr(integration, "http_methods_to_capture", None)
        if configured is None:
            methods = _TRACED_METHODS
        else:
            methods = _TRACED_METHODS & {str(method).upper() for method in configured}
    _traced = (client, methods)
    return methods


class RequestScope:
    """Run a request in its own Sentry isolation scope, on the request's trace.

    Entered by the context layer *before* it sets the context variables (and left after it
    resets them): forks the isolation scope, clears the breadcrumbs it inherited, continues the
    incoming trace or starts one with the request's new trace id, and hands that trace to a
    Sentry middleware inside the app. Logs and events then share one trace id.

    No second scope where Sentry already makes one for the request: when its ASGI middleware
    runs outside the stack, its scope is reused; when the app right under the stack is a
    Starlette/FastAPI app that Sentry's integration wraps (``sentry_wraps``), every request of
    the methods it traces runs in that middleware's scope, which continues the trace handed to
    it. (Only ever decided on the app itself: a router in between could send requests elsewhere.)
    The few captures the error layer makes outside that scope get a scope of their own.
    """

    __slots__ = ("_asgi_scope", "_fork", "_inside", "_state", "base")

    def __init__(self, state: RequestState, asgi_scope: Scope, sentry_inside: bool = False) -> None:
        self._state = state
        self._asgi_scope = asgi_scope
        self._inside = sentry_inside
        self._fork: Any = None
        #: Sentry's (isolation, current) scopes of before the request: the completing send is
        #: handed to the server in them (see ``ResponseTracker._send_detached``).
        self.base: tuple[Any, Any] | None = None

    def __enter__(self) -> None:
        ensure_registered()
        wire_client(sentry_sdk.get_client())
        self.base = (_scope_module._isolation_scope.get(), _scope_module._current_scope.get())
        state = self._state
        asgi_scope = self._asgi_scope
        if _outer_sentry_middleware():
            isolation = sentry_sdk.get_isolation_scope()
            span = _tracing_span()
            if span is not None:  # Sentry's own middleware started the request's transaction
                state.trace_id = str(span.trace_id)
            else:  # it skipped the trace (HEAD, OPTIONS ...): continue it here
                _continue_trace(isolation, state)
        elif (
            self._inside
            and asgi_scope["type"] == "http"
            and asgi_scope.get("method") in _methods_traced_inside()
        ):
            if state.sentry is None:
                state.sentry = SentryRequest()
            state.sentry.scope_inside = True
            _hand_trace_downstream(asgi_scope, None, state)
            return
        else:
            self._fork = sentry_sdk.isolation_scope()
            isolation = self._fork.__enter__()
            isolation.clear_breadcrumbs()
            if _tracing_span() is not None:
                # The forked current scope inherits whatever span was current when the server
                # started the request (sentry-sdk 2.12 leaves a lifespan span there): not ours.
                sentry_sdk.get_current_scope().span = None
            _continue_trace(isolation, state)
        _hand_trace_downstream(asgi_scope, isolation, state)

    def __exit__(self, *exc_info: Any) -> None:
        if self._fork is not None:
            self._fork.__exit__(*exc_info)


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
    logger: str,
) -> None:
    """Capture one event for a failure the error layer saw (see :class:`~asgi_obs.ErrorMiddleware`).

    An exception already reported during this request is skipped here (and would be dropped by
    the event processor anyway). Without an exception, a message event is captured only when
    nothing was reported for the request yet, grouped by route and status.
    """
    if exc is not None and _marks.reported_in(exc, state):
        return
    sentry_state = state.sentry if state is not None else None
    if exc is None and sentry_state is not None and sentry_state.failures:  # it has its event already
        return
    if (
        state is not None
        and sentry_state is not None
        and sentry_state.scope_inside
        and not _outer_sentry_middleware()
    ):
        # The request's scope was the Sentry middleware's inside the app, which has ended:
        # a scope of its own for this capture, on the request's trace.
        with sentry_sdk.isolation_scope() as isolation:
            isolation.clear_breadcrumbs()
            _continue_trace(isolation, state)
            _capture(exc, scope, status, message, logger)
        return
    _capture(exc, scope, status, message, logger)


def _capture(exc: BaseException | None, scope: Scope, status: int | None, message: str, logger: str) -> None:
    if exc is not None:
        event, hint = event_from_exception(
            exc,
            client_options=sentry_sdk.get_client().options,
            mechanism={"type": "asgi_obs", "handled": False},
        )
        sentry_sdk.capture_event(event, hint=hint)
        return
    route = route_template(scope) or scope.get("path", "")
    method = method_of(scope)
    event = {
        "level": "error",
        "logger": logger,
        "message": f"{message}: {method} {route} {status}",
        "fingerprint": ["asgi_obs", "5xx", method, route, str(status)],
    }
    sentry_sdk.capture_event(event)
