"""Per-request Sentry work: the isolation scope, the trace, and capturing a failure.

Only imported (through :func:`asgi_obs.sentry.request_module`) once ``sentry_sdk`` is imported
by the application and a client is active; everything here therefore imports ``sentry_sdk``
freely.
"""

from __future__ import annotations

from typing import Any

import sentry_sdk
import sentry_sdk.scope as _scope_module
from sentry_sdk.utils import event_from_exception

from .. import _marks
from .._types import Scope
from ..context import RequestState
from ..fields import method_of
from ..request_info import route_template
from ._enrich import late_enricher, wire_client
from ._events import SentryRequest, ensure_registered
from ._trace import continue_trace, hand_trace_downstream, trace_headers, tracing_span

__all__ = ["RequestScope", "capture_failure", "sentry_wraps", "trace_headers"]  # trace_headers: re-exported

try:  # Sentry's own ASGI middleware marks the context it runs in (private, hence guarded).
    from sentry_sdk.integrations.asgi import _asgi_middleware_applied
except ImportError:  # pragma: no cover - a future sentry-sdk without it: always fork
    _asgi_middleware_applied = None


def _outer_sentry_middleware() -> bool:
    return _asgi_middleware_applied is not None and bool(_asgi_middleware_applied.get(False))


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
            # The scopes of before the request are the outer middleware's own, this request's:
            # a pipelined next request must start from none (sentry-sdk makes fresh ones).
            self.base = (None, None)
            isolation = sentry_sdk.get_isolation_scope()
            # Its transaction is sent after this stack returned, outside the request's context:
            # enriched and scrubbed from this scope, which is the request's own.
            isolation.add_event_processor(late_enricher(state))
            span = tracing_span()
            if span is not None:  # Sentry's own middleware started the request's transaction
                state.trace_id = str(span.trace_id)
            else:  # it skipped the trace (HEAD, OPTIONS ...): continue it here
                continue_trace(isolation, state)
        elif (
            self._inside
            and asgi_scope["type"] == "http"
            and asgi_scope.get("method") in _methods_traced_inside()
        ):
            if state.sentry is None:
                state.sentry = SentryRequest()
            state.sentry.scope_inside = True
            if getattr(sentry_sdk.get_current_scope(), "_breadcrumbs", None):
                # sentry-sdk 2.12 records some breadcrumbs (its own `git rev-parse` at init) on
                # the current scope, which the middleware inside forks as it is: a current scope
                # of our own, emptied, keeps them off this request's events.
                self._fork = sentry_sdk.new_scope()
                self._fork.__enter__().clear_breadcrumbs()
            hand_trace_downstream(asgi_scope, None, state)
            return
        else:
            self._fork = sentry_sdk.isolation_scope()
            isolation = self._fork.__enter__()
            isolation.clear_breadcrumbs()
            sentry_sdk.get_current_scope().clear_breadcrumbs()  # forked too (2.12 records there)
            if tracing_span() is not None:
                # The forked current scope inherits whatever span was current when the server
                # started the request (sentry-sdk 2.12 leaves a lifespan span there): not ours.
                sentry_sdk.get_current_scope().span = None
            continue_trace(isolation, state)
        hand_trace_downstream(asgi_scope, isolation, state)

    def __exit__(self, *exc_info: Any) -> None:
        if self._fork is not None:
            self._fork.__exit__(*exc_info)


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
            continue_trace(isolation, state)
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
