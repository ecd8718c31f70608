"""The request's identity, held in context variables.

This module owns every ``ContextVar`` of asgi_obs. :class:`~asgi_obs.RequestContextMiddleware`
sets all three at the start of each request and resets them with their tokens when the request
ends, so code running inside a request (including the threadpool, task groups and
``asyncio.create_task`` children, which copy the context) can read them, and nothing leaks into
the next request on the same connection. Work that runs outside those (an executor job, a job
queue's worker) carries them with :func:`asgi_obs.capture_context` (:mod:`asgi_obs.background`).
"""

from __future__ import annotations

from collections.abc import MutableMapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from .fields import RESERVED_FIELDS
from .ids import new_span_id

if TYPE_CHECKING:
    from .redaction import QueryRedactor

__all__ = [
    "RequestState",
    "bind",
    "current_state",
    "get_request_id",
    "get_trace_id",
    "request_id_var",
    "state_var",
    "trace_id_var",
]

request_id_var: ContextVar[str | None] = ContextVar("asgi_obs.request_id", default=None)
"""The current request's id; ``None`` outside a request."""

trace_id_var: ContextVar[str | None] = ContextVar("asgi_obs.trace_id", default=None)
"""The current request's trace id (32 lowercase hex); ``None`` outside a request."""


class RequestState:
    """Mutable per-request record shared by the layers of one request.

    One instance is created per request by :class:`~asgi_obs.RequestContextMiddleware` and held
    in :data:`state_var`. Child contexts (threadpool, task groups, ``create_task``) copy the
    *reference*, so what they record here (``bind()`` fields, Sentry event counts) is seen by
    the layers when the request finishes.
    """

    __slots__ = (
        "_span_id",
        "absorbing",
        "asgi_scope",
        "baggage",
        "fields",
        "held",
        "id_header",
        "layers",
        "parent_span_id",
        "redactor",
        "request_id",
        "sampled",
        "sentry",
        "trace_id",
        "tracker",
    )
    #: The caller's span id when a trace came in, else ``None``.
    parent_span_id: str | None
    #: The incoming sampling decision, ``None`` when nothing came in.
    sampled: bool | None
    #: The incoming ``baggage`` header (only kept when a trace came in).
    baggage: str | None
    #: Fields attached with :func:`bind`; added to every later record of the request.
    fields: dict[str, Any]
    #: Sentry's per-request bookkeeping (``asgi_obs.sentry``); ``None`` without Sentry.
    sentry: Any
    #: The query redactor the layers were configured with: Sentry events use the same.
    redactor: QueryRedactor | None
    #: Which asgi_obs layers already handle this request (bits, see the layers): a nested
    #: stack (a sub-app with its own build_stack) passes through instead of doing it twice.
    layers: int
    #: The request's ASGI scope (to recognise a nested stack, and to describe the request in
    #: Sentry events).
    asgi_scope: MutableMapping[str, Any] | None
    #: The request-id header name, as the context layer was configured (for outgoing calls).
    id_header: str
    #: The request's response tracker (``asgi_obs._response``), set by the context layer.
    tracker: Any
    #: An error layer handles this request now: a framework's own record of a failure is
    #: held for it (:mod:`asgi_obs._absorb`) in ``held``, as ``(record, filter)`` pairs.
    absorbing: bool
    held: list[tuple[Any, Any]] | None

    def __init__(
        self,
        request_id: str,
        trace_id: str,
        span_id: str | None = None,
        *,
        parent_span_id: str | None = None,
        sampled: bool | None = None,
        baggage: str | None = None,
    ) -> None:
        self.request_id = request_id
        self.trace_id = trace_id
        self._span_id = span_id
        self.parent_span_id = parent_span_id
        self.sampled = sampled
        self.baggage = baggage
        self.fields = {}
        # (Assigned in chains: this runs on every request. What each one is: see the class.)
        self.sentry = self.redactor = self.asgi_scope = self.tracker = self.held = None
        self.layers = 0
        self.id_header = "X-Request-ID"
        self.absorbing = False

    @property
    def span_id(self) -> str:
        """Our span id: the parent id announced on outgoing ``traceparent`` headers.

        Generated on first use: most requests make no outgoing call.
        """
        if self._span_id is None:
            self._span_id = new_span_id()
        return self._span_id

    def __repr__(self) -> str:
        return f"RequestState(request_id={self.request_id!r}, trace_id={self.trace_id!r})"


# RequestState.layers bits: which layers already handle the request.
CONTEXT_LAYER = 1
ACCESS_LAYER = 2
ERROR_LAYER = 4

state_var: ContextVar[RequestState | None] = ContextVar("asgi_obs.state", default=None)
"""The current request's :class:`RequestState`; ``None`` outside a request."""


def get_request_id() -> str | None:
    """Return the id of the request being handled, or ``None`` outside a request."""
    return request_id_var.get()


def get_trace_id() -> str | None:
    """Return the trace id of the request being handled, or ``None`` outside a request."""
    return trace_id_var.get()


def current_state() -> RequestState | None:
    """Return the :class:`RequestState` of the request being handled, or ``None``."""
    return state_var.get()


def bind(**fields: Any) -> bool:
    """Attach ``fields`` to the current request.

    From now on they appear on every log record of this request that passes through
    :class:`~asgi_obs.ContextFilter`, and on its access record, also when ``bind()`` is called
    from a sync endpoint running in the threadpool. A later ``bind()`` of the same name wins;
    an explicit ``extra=`` on a log call wins over a bound field.

    Returns ``True`` when the fields were attached, ``False`` when called outside a request
    (nothing to attach them to; the call is then a no-op rather than an error, so that code
    shared with scripts and jobs keeps working).

    Raises ``ValueError`` for a name that would clobber a standard ``LogRecord`` attribute
    (``msg``, ``args``, ``levelname`` ...) or the ids, and for names starting with ``_``
    (which JSON output leaves out).
    """
    # Underscore names are never written by the formatter: refusing them beats losing them.
    clashing = RESERVED_FIELDS.intersection(fields) | {name for name in fields if name.startswith("_")}
    if clashing:
        raise ValueError(f"bind(): reserved field name(s) {sorted(clashing)}")
    state = state_var.get()
    if state is None:
        return False
    state.fields.update(fields)
    return True
