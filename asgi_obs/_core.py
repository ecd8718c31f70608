"""The one request flow behind every asgi_obs layer: ids, access record and failures in one frame.

:class:`~asgi_obs.RequestContextMiddleware`, :class:`~asgi_obs.AccessLogMiddleware` and
:class:`~asgi_obs.ErrorMiddleware` are :class:`Layers` with one *part* each (themselves: the
class holds its options and what it does at each moment); :func:`~asgi_obs.build_stack` makes
one :class:`Layers` with all three parts (the *fused* stack). Either way the flow below runs:
nested by hand, each layer runs it for its own part and the tracker is shared; fused, it runs
once, with one coroutine frame, one :class:`~asgi_obs._response.ResponseTracker` (one
``receive`` and one ``send`` wrapper) and no per-layer closures per request. The decisions and
actions are the parts' methods in both cases, so the two behave the same (the test suite runs
against both: ``ASGI_OBS_STACK=nested``, see :mod:`asgi_obs.stack`).

The order inside the flow is the nesting order, outermost first: context (ids set, Sentry scope
entered), access (timing starts), error (failures handled); at the end error (held framework
records released), access (record of a request that did not complete), context (variables
reset, Sentry scope left).
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any

from . import _absorb, _root_check, sentry
from ._emit import report_internal_error
from ._failure import decide
from ._response import ResponseTracker, attach
from ._types import ASGIApp, Receive, Scope, Send
from .context import ACCESS_LAYER, CONTEXT_LAYER, ERROR_LAYER, request_id_var, state_var, trace_id_var

if TYPE_CHECKING:
    from .access_log import AccessLogMiddleware
    from .errors import ErrorMiddleware
    from .request_context import RequestContextMiddleware

__all__ = ["Layers"]

_perf_ns = time.perf_counter_ns
# Sentry is only looked at when the application imported sentry_sdk itself: no import cost, no
# work, for services without Sentry.
_modules = sys.modules


class Layers:
    """An ASGI callable running the parts it was given around ``app`` (see the module).

    ``_context``, ``_access``, ``_error``: the parts, or ``None`` for a part left out. Set by
    the subclasses' ``__init__`` (each layer class is its own part, :class:`FusedStack` has
    all three).
    """

    app: ASGIApp
    _context: RequestContextMiddleware | None = None
    _access: AccessLogMiddleware | None = None
    _error: ErrorMiddleware | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http" and kind != "websocket":  # lifespan passes straight through
            await self.app(scope, receive, send)
            return
        context, access, error = self._context, self._access, self._error
        state = state_var.get()
        # A part a stack outside already runs for this very request (a mounted sub-app with its
        # own build_stack gets the same scope) steps aside: one id, one record, one report.
        # (A request made in-process from inside another, through httpx's ASGITransport, has a
        # scope of its own: it is handled on its own.)
        same = state is not None and state.asgi_scope is scope
        if same:
            taken = state.layers  # type: ignore[union-attr]
            if taken & CONTEXT_LAYER:
                context = None
            if taken & ACCESS_LAYER:
                access = None
            if taken & ERROR_LAYER:
                error = None
        if context is None and access is None and error is None:
            await self.app(scope, receive, send)
            return
        claims = (ACCESS_LAYER if access is not None else 0) | (ERROR_LAYER if error is not None else 0)
        tokens: tuple[Any, Any, Any] | None = None
        sentry_scope: Any = None
        if context is not None:
            if not context._root_checked:
                # On the first request: a framework's dictConfig may have replaced the JSON
                # handler since init_structured_logging() (Litestar() does it when built).
                context._root_checked = True
                _root_check.check_root_handlers()
            # The one send/receive wrapper of the request: the parts (and layers) inside use it.
            tracker = ResponseTracker(scope, receive, send)
            state = context._state_for(scope, tracker)
            state.layers = CONTEXT_LAYER | claims
            state.asgi_scope = scope
            state.tracker = tracker
            request_id = state.request_id
            scope_state = scope.get("state")
            if scope_state is None:
                scope_state = scope["state"] = {}
            scope_state["request_id"] = request_id
            scope_state["trace_id"] = state.trace_id
            tracker.id_header = (context._header, request_id.encode("ascii"))
            tracker.detach = True
            receive, send, own = tracker.receive, tracker.send, True
            # With Sentry active, the request runs in its own Sentry scope: entered before the
            # variables are set, left after they are reset.
            if "sentry_sdk" in _modules and sentry.is_active():
                sentry_scope = sentry.request_module().RequestScope(state, scope, context._sentry_wraps_app())
                try:
                    sentry_scope.__enter__()
                except Exception as exc:  # noqa: BLE001 - Sentry must never fail the request
                    report_internal_error("entering the request's Sentry scope", exc)
                    sentry_scope = None
                else:
                    tracker.sentry_base = sentry_scope.base
            tokens = (request_id_var.set(request_id), trace_id_var.set(state.trace_id), state_var.set(state))
        else:
            tracker, receive, send, own = attach(scope, receive, send)
            if same:
                state.layers |= claims  # type: ignore[union-attr]
        if access is not None:
            tracker.access = access
            tracker.start_ns = _perf_ns()
            if state is not None:
                state.redactor = access._redact  # Sentry events of this request redact the same way
        if error is not None:
            tracker.error = error
            if state is not None:
                if state.redactor is None:
                    state.redactor = error._redact
                state.absorbing = True  # a framework's own failure record is held for the error part
        failure: BaseException | None = None
        try:
            try:
                await self.app(scope, receive, send)
            except BaseException as exc:
                if error is None:
                    raise
                if kind == "websocket":
                    await error._websocket_failed(tracker, exc, send)
                else:
                    await error._act(tracker, decide(tracker, exc), send)
            else:
                if error is not None:
                    if kind == "websocket":
                        error._websocket_returned(tracker)
                    elif not tracker.completed:  # (a complete response, the common case, needs nothing)
                        await error._act(tracker, decide(tracker, None), send)
            finally:
                if error is not None and state is not None:
                    state.absorbing = False
                    if state.held:  # the framework logged a failure nothing reported: written now
                        _absorb.release(state)
        except BaseException as exc:
            failure = exc  # what the access part records (the error part may have handled it)
            raise
        finally:
            try:
                if own and context is None:
                    tracker.close()  # (the tracker's maker stops it; the context part does, below)
                if access is not None:
                    access._finished(tracker, failure)
            finally:  # (in its own frame when nested: whatever the access part does, this runs)
                if context is not None:
                    tracker.close()
                    state_var.reset(tokens[2])  # type: ignore[index]
                    trace_id_var.reset(tokens[1])  # type: ignore[index]
                    request_id_var.reset(tokens[0])  # type: ignore[index]
                    if sentry_scope is not None:
                        sentry_scope.__exit__(None, None, None)


class FusedStack(Layers):
    """What :func:`~asgi_obs.build_stack` returns: the three parts run by one :class:`Layers`.

    Behaves as ``RequestContextMiddleware(AccessLogMiddleware(ErrorMiddleware(app)))`` (the
    parts are those three objects, never called themselves); ``context``, ``access`` and
    ``error`` are them (``access`` is ``None`` with ``access_log=False``).
    """

    def __init__(
        self,
        app: ASGIApp,
        context: RequestContextMiddleware,
        access: AccessLogMiddleware | None,
        error: ErrorMiddleware,
    ) -> None:
        self.app = app
        self._context, self._access, self._error = context, access, error

    @property
    def context(self) -> RequestContextMiddleware:
        """The context part (its options: header name, trust, generator, validator)."""
        return self._context  # type: ignore[return-value]

    @property
    def access(self) -> AccessLogMiddleware | None:
        """The access part, ``None`` when built with ``access_log=False``."""
        return self._access

    @property
    def error(self) -> ErrorMiddleware:
        """The error part."""
        return self._error  # type: ignore[return-value]

    def __repr__(self) -> str:
        named = (("context", self._context), ("access", self._access), ("error", self._error))
        parts = "+".join(name for name, part in named if part is not None)
        return f"<FusedStack {parts} around {self.app!r}>"
