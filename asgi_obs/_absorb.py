"""A framework's own record of a failure, taken aside and folded into the error layer's one record.

Quart (``"Exception on request GET /boom"``, on the app's logger) and Django (``django.request``,
``"Internal Server Error: /boom"``) log an unhandled exception themselves, with its traceback,
and then send their 500 *outside* the ``except`` block: the error layer sees "a 5xx without
exception". Left alone that is two ERROR records per failure, the second without traceback.

*When* each step happens:

* :func:`hold` — when such a record reaches the handler's :class:`~asgi_obs.ServerDuplicateFilter`
  during a request an :class:`~asgi_obs.ErrorMiddleware` is handling (``RequestState.absorbing``):
  the record is kept in the request's state instead of being written. (A handler filter, not a
  logger filter: Quart's logger is named after each app. Sentry's logging integration still sees
  the record, after the handlers; its event and the error layer's are one by the exception marks.)
* :func:`consume` — when the error layer writes its record: the records about the same
  exception (or about none) are absorbed; for a 5xx sent without an exception, the latest held
  record's exception is the one reported, with its traceback.
* :func:`release` — when the error layer's request ends: a record nothing consumed (the framework
  logged, and then answered 200) is written after all, by the handler that held it. Nothing is lost.
"""

from __future__ import annotations

import logging

from .context import RequestState

__all__ = ["RELEASED_KEY", "consume", "hold", "release"]

#: Set on a record being released, so the filter that held it lets it through this time.
RELEASED_KEY = "_asgi_obs_released"

# At most this many records held per request (a framework looping on errors): the rest pass.
_MAX_HELD = 16


def hold(record: logging.LogRecord, state: RequestState, holder: logging.Filter) -> bool:
    """Keep ``record`` aside for the error layer; ``False``: let it pass.

    ``holder`` is the filter that saw it: the record is released through its handler.
    """
    if record.__dict__.get(RELEASED_KEY):
        return False
    held = state.held
    if held is None:
        held = state.held = []
    elif len(held) >= _MAX_HELD:
        return False
    for kept, _ in held:
        if kept is record:  # a second handler with the same filter: held once, not twice
            return True
    held.append((record, holder))
    return True


def _exception(record: logging.LogRecord) -> BaseException | None:
    exc_info = record.exc_info
    if exc_info and isinstance(exc_info, tuple):
        return exc_info[1]
    return None


def consume(state: RequestState | None, exc: BaseException | None) -> tuple[BaseException | None, str | None]:
    """Absorb the held records about ``exc`` into the error record being written.

    Returns the exception to report (``exc``, or — when ``exc`` is ``None`` — the latest held
    record's exception) and the name of the logger whose record was absorbed (``None``: none).
    Records about another exception stay held (and are released at the end).
    """
    held = state.held if state is not None else None
    if not held:
        return exc, None
    if exc is None:
        for record, _ in reversed(held):
            exc = _exception(record)
            if exc is not None:
                break
    kept = []
    absorbed: str | None = None
    for item in held:
        record = item[0]
        other = _exception(record)
        if other is None or other is exc:
            absorbed = absorbed or record.name
        else:
            kept.append(item)
    state.held = kept  # type: ignore[union-attr]
    return exc, absorbed


def release(state: RequestState) -> None:
    """Write the held records nothing consumed, through the handlers whose filter held them."""
    held, state.held = state.held, None
    if not held:
        return
    for record, holder in held:
        record.__dict__[RELEASED_KEY] = True
        logger: logging.Logger | None = logging.getLogger(record.name)
        while logger is not None:
            for handler in logger.handlers:
                if holder in handler.filters and record.levelno >= handler.level:
                    handler.handle(record)
            logger = logger.parent if logger.propagate else None
