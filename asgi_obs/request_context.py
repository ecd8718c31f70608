"""``RequestContextMiddleware``: ids in, ids out, context variables set and reset.

Place it outermost (``build_stack`` does): everything inside it, the access and error layers
included, then sees the request's ids, and the 500 the error layer sends carries
``X-Request-ID`` too.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from . import sentry
from ._core import Layers
from ._otel import OTEL_TRACE_MODULE as _OTEL_TRACE
from ._otel import current_span as _otel_span
from ._response import ResponseTracker
from ._types import ASGIApp, Scope
from .context import RequestState
from .ids import new_ids, parse_sentry_trace, parse_traceparent, valid_request_id

__all__ = ["RequestContextMiddleware"]

_HEADER_NAME_CHARS = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz")
# OpenTelemetry is only looked at when the application imported it itself.
_modules = sys.modules


class RequestContextMiddleware(Layers):
    """Give every HTTP and WebSocket request a ``request_id`` and a ``trace_id``.

    When a request starts, the ids are taken from the incoming headers when valid and generated
    otherwise (DESIGN §4): ``X-Request-ID`` (name configurable) when it is 1-128 characters of
    ``[A-Za-z0-9._:@/+=-]``; the trace from the current OpenTelemetry span when one is valid
    (an OTel middleware outside), else ``sentry-trace``, else W3C ``traceparent``. They are
    set in :data:`~asgi_obs.request_id_var`, :data:`~asgi_obs.trace_id_var` and the per-request
    :class:`~asgi_obs.context.RequestState`, mirrored into ``scope["state"]`` (created when the
    server sent none), and reset with their tokens when the request ends, however it ends.

    The id is *set* (any existing value replaced, never duplicated) on ``http.response.start``,
    ``websocket.accept`` and a WebSocket denial response. The send that completes a response
    is handed to the server outside the request's context (:mod:`asgi_obs._detach`), so a
    pipelined next request never starts with this one's ids. With Sentry active, the request runs
    in its own Sentry isolation scope that continues the incoming trace (see
    :mod:`asgi_obs.sentry`). ``lifespan`` passes straight through.

    Options:

    * ``header``: the request-id header name;
    * ``trust_incoming``: when ``False`` an id is always generated, and a valid incoming one is
      kept as the ``client_request_id`` field;
    * ``generator``: a callable returning new ids (default: UUID-4 hex);
    * ``validator``: a callable deciding whether an incoming id is acceptable (default: the rule
      above). Whatever it accepts is echoed in a response header, so it must reject CR/LF.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        header: str = "X-Request-ID",
        trust_incoming: bool = True,
        generator: Callable[[], str] | None = None,
        validator: Callable[[str], bool] | None = None,
    ) -> None:
        if not header or not set(header.lower()) <= _HEADER_NAME_CHARS:
            raise ValueError(f"header={header!r} is not a valid HTTP header name")
        if generator is not None:
            sample = generator()
            if not isinstance(sample, str) or not valid_request_id(sample):
                raise ValueError(f"generator returned {sample!r}, not a valid request id")
        self.app = app
        self._header = header.lower().encode("ascii")
        self._header_display = header
        self._sentry_wraps: bool | None = None
        self._wanted_headers = frozenset(
            {self._header, b"user-agent", b"sentry-trace", b"traceparent", b"baggage"}
        )
        self._trust_incoming = trust_incoming
        self._generator = generator
        self._validator = validator or valid_request_id
        # Checked on this stack's first request: a framework's dictConfig may have replaced the
        # JSON handler since init_structured_logging() (Litestar() does it when built).
        self._root_checked = False
        self._context = self  # the part Layers.__call__ runs (asgi_obs._core)

    def _sentry_wraps_app(self) -> bool:
        # Whether the app under this stack (past asgi_obs' own layers) is one Sentry's
        # integration wraps: a property of the app, computed once.
        if self._sentry_wraps is None:
            app = self.app
            while _is_layer(app):
                app = app.app  # type: ignore[attr-defined]
            self._sentry_wraps = bool(sentry.request_module().sentry_wraps(app))
        return self._sentry_wraps

    def _incoming_request_id(self, raw: bytes | None) -> str | None:
        if raw is None:
            return None
        try:
            value = raw.decode("ascii")
        except UnicodeDecodeError:
            return None
        try:
            return value if self._validator(value) else None
        except Exception:  # noqa: BLE001 - a user validator failing means "not acceptable"
            return None

    def _state_for(self, scope: Scope, tracker: ResponseTracker) -> RequestState:
        """Read the incoming ids from ``scope``'s headers and build the request's state.

        The trace: a valid OpenTelemetry span current when the request starts, else
        ``sentry-trace``, else ``traceparent``, else a new one. The same scan of the headers
        notes the first ``User-Agent`` on ``tracker`` (for the access record: one scan).
        """
        header = self._header
        wanted = self._wanted_headers
        raw_id: bytes | None = None
        id_count = 0
        sentry_trace = traceparent = baggage = None
        user_agent = None
        for name, value in scope.get("headers") or ():
            if name not in wanted:  # one set lookup for the many headers that do not matter
                continue
            if name == header:  # (first: it may be any name, even User-Agent)
                raw_id = value
                id_count += 1
            if name == b"user-agent":
                if user_agent is None:
                    user_agent = value
            elif name == b"sentry-trace":
                sentry_trace = value
            elif name == b"traceparent":
                traceparent = value
            elif name == b"baggage":
                baggage = value
        tracker.user_agent = user_agent
        tracker.headers_scanned = True
        # Two X-Request-ID headers mean "a,b" to HTTP: ambiguous, so neither is trusted.
        incoming = self._incoming_request_id(raw_id) if id_count == 1 else None
        trace = None
        if sentry_trace is not None:
            trace = parse_sentry_trace(sentry_trace.decode("latin-1"))
        if trace is None and traceparent is not None:
            trace = parse_traceparent(traceparent.decode("latin-1"))
        otel_trace = _modules.get(_OTEL_TRACE)  # only when the application imported OTel
        if otel_trace is not None:
            # An OpenTelemetry span current now (its ASGI middleware outside the stack) has
            # already continued the incoming traceparent, or started a trace: the request is
            # part of it, so the logs correlate with OTel's traces.
            span = _otel_span(otel_trace)
            if span is not None:
                if trace is None or trace.trace_id != span.trace_id:
                    baggage = None  # it described another trace (or came without one)
                trace = span
        request_id = incoming if self._trust_incoming else None
        if request_id is None or trace is None:
            new_request_id, new_trace_id = new_ids()  # both from a pre-drawn batch
            if request_id is None:
                request_id = new_request_id
                if self._generator is not None:
                    generated = self._generator()
                    # Checked on every call: the value goes into a response header.
                    if isinstance(generated, str) and valid_request_id(generated):
                        request_id = generated
        if trace is None:
            state = RequestState(request_id, new_trace_id)
        else:
            state = RequestState(
                request_id,
                trace.trace_id,
                parent_span_id=trace.parent_span_id,
                sampled=trace.sampled,
                baggage=baggage.decode("latin-1") if baggage is not None else None,
            )
        if not self._trust_incoming and incoming is not None:
            state.fields["client_request_id"] = incoming
        state.id_header = self._header_display
        return state


def _is_layer(app: ASGIApp) -> bool:
    """Tell whether ``app`` is an asgi_obs layer (the ones inside this one)."""
    return isinstance(app, Layers)
