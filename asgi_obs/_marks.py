"""Markers set on exception objects, so that each failure is written and reported once.

Two independent markers:

* *logged*: the exception was written to the log **with its traceback** during a given request
  (by the app's ``logger.exception``, by the error layer, ...). The error layer then does not
  repeat the traceback, and the server's own "Exception in ASGI application" line is dropped.
* *reported*: a Sentry event was kept for the exception (or an exception of its
  ``__cause__``/``__context__`` chain) during a given request. Later events of the same request
  for it are dropped, whichever path produced them.

The markers live on the exception objects themselves (not in a registry), so they cost nothing
when no failure happens and disappear with the exceptions.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from ._compat import group_members
from .context import RequestState

_LOGGED = "__asgi_obs_logged__"
_REPORTED = "__asgi_obs_reported__"

# A chain longer than this is pathological; stop walking rather than spend time on it.
_MAX_CHAIN = 64


def iter_chain(exc: BaseException) -> Iterator[BaseException]:
    """Yield ``exc``, its ``__cause__``/``__context__`` chain and exception-group members."""
    seen: set[int] = set()
    todo = [exc]
    while todo and len(seen) < _MAX_CHAIN:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo.extend(group_members(current))
        if current.__cause__ is not None:
            todo.append(current.__cause__)
        if current.__context__ is not None:
            todo.append(current.__context__)


def _set(exc: BaseException, name: str, value: object) -> None:
    # Some C-level exception types refuse new attributes; a missing marker only means a
    # possible duplicate, never a lost report, so failing to set one is fine.
    with contextlib.suppress(AttributeError, TypeError):
        setattr(exc, name, value)


def mark_logged(exc: BaseException, state: RequestState | None) -> None:
    """Record that ``exc`` was written to the log with its traceback during ``state``."""
    _set(exc, _LOGGED, state if state is not None else True)


def _seen(marker: object, state: RequestState | None) -> bool:
    # Inside a request only that request's marks count: an exception object shared between
    # requests (a cached failure, a failed startup task) is news to every other request.
    # Outside one (the server logging after the request unwound) any mark counts.
    return marker is not None and (state is None or marker is state)


def is_logged(exc: BaseException, state: RequestState | None) -> bool:
    """Tell whether ``exc`` itself was already written with its traceback, seen from ``state``."""
    return _seen(getattr(exc, _LOGGED, None), state)


def mark_reported(exc: BaseException, state: RequestState | None) -> None:
    """Record that a Sentry event was kept for ``exc`` (and its chain) during ``state``."""
    for item in iter_chain(exc):
        _set(item, _REPORTED, state if state is not None else True)


def reported_in(exc: BaseException, state: RequestState | None) -> bool:
    """Tell whether ``exc`` or its chain was already reported, seen from ``state``."""
    return any(_seen(getattr(item, _REPORTED, None), state) for item in iter_chain(exc))
