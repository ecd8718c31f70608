"""The global event processor and the ``before_send``/``before_breadcrumb`` hooks.

Nothing here imports ``sentry_sdk`` when loaded; :func:`ensure_registered` does, once a client
is active.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from .. import _marks
from .._echo import DEFAULT_SERVER_LOGGERS, echoed_exception
from .._emit import record_kind
from ..classify import is_disconnect
from ..context import state_var
from ..fields import ERROR_LOGGER
from ._enrich import enrich

__all__ = [
    "SentryRequest",
    "before_breadcrumb",
    "before_send",
    "ensure_registered",
    "event_processor",
    "ignore_layer_logger",
]

if TYPE_CHECKING:
    from sentry_sdk._types import Event, Hint
else:
    Event = Hint = dict

_CHECKED = "asgi_obs_checked"
_register_lock = threading.Lock()
_registered = False
# Error-layer logger names Sentry's logging integration must ignore (no breadcrumb, no event:
# the layer captures its own, richer event). Registered when an ErrorMiddleware is built.
_layer_loggers: set[str] = {ERROR_LOGGER}


class SentryRequest:
    """Sentry's bookkeeping for one request, in ``RequestState.sentry``."""

    __slots__ = ("client_trace", "failures", "injected_trace", "scope_inside")

    def __init__(self) -> None:
        #: Events kept for this request that carried an exception (asgi_obs' processor counts).
        self.failures = 0
        #: The request runs in the scope of a Sentry middleware inside the app, not ours.
        self.scope_inside = False
        #: A ``sentry-trace`` request header was set for a Sentry middleware inside the app;
        #: ``client_trace`` is the one the client sent (``None``: none), shown on events.
        self.injected_trace = False
        self.client_trace: bytes | None = None


def event_processor(event: Event, hint: Hint | None) -> Event | None:
    """Drop duplicate events and events made from the layers' records; enrich the others.

    Duplicates: a later event for an exception already reported in the request, and an event
    made from a server's record repeating such an exception without ``exc_info`` (granian's
    "Application callable raised an exception", see :func:`asgi_obs._echo.echoed_exception`).

    Runs for every event of the process (registered by :func:`ensure_registered`), before
    ``before_send``.
    """
    state = state_var.get()
    exc_info = hint.get("exc_info") if hint else None
    exc = exc_info[1] if exc_info else None
    if hint is not None:
        hint[_CHECKED] = True
        record = hint.get("log_record")
        if record is not None:
            if record_kind(record) is not None:
                return None  # an access or error record: the error layer captures its own event
            if exc is None and DEFAULT_SERVER_LOGGERS[record.name]:
                # granian's echo has no exc_info (its traceback is text): the event is a plain
                # message. Dropped when the exception it repeats was reported; a server error
                # about anything else is kept.
                echoed = echoed_exception(record)
                if echoed is not None and _marks.reported_in(echoed, state):
                    return None
    if isinstance(exc, BaseException):
        if _marks.reported_in(exc, state):
            return None
        if state is not None and is_disconnect(exc):
            return None  # a client that left (a framework's integration may report it): no failure
        _marks.mark_reported(exc, state)
        if state is not None:
            if state.sentry is None:
                state.sentry = SentryRequest()
            state.sentry.failures += 1
    if state is not None:
        enrich(event, hint, state)
    return event


def ignore_layer_logger(name: str) -> None:
    """Have Sentry's logging integration ignore the error layer's logger ``name``.

    Called when an :class:`~asgi_obs.ErrorMiddleware` is built; applied now when ``sentry_sdk``
    is loaded, else when :func:`ensure_registered` runs.
    """
    _layer_loggers.add(name)
    if _registered:
        from sentry_sdk.integrations.logging import ignore_logger

        ignore_logger(name)


def ensure_registered() -> None:
    """Register :func:`event_processor` globally, once per process, and ignore the error loggers.

    Called automatically by the first request handled with Sentry active and by
    :func:`~asgi_obs.sentry.init_sentry`.
    """
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
        for name in _layer_loggers:
            ignore_logger(name)
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

    Sentry's logging integration bypasses handler filters; this applies the suppression filter
    of the installed handler (if any) to the record behind the breadcrumb.
    """
    record = hint.get("log_record") if hint else None
    if record is not None:
        from ..logging_config import installed_suppress_filter

        suppress = installed_suppress_filter()
        if suppress is not None and suppress.should_suppress(record):
            return None
    return crumb
