"""Telling the operator, once, that someone else's logging config replaced ours on the root logger.

``Litestar()`` with its default ``logging_config`` runs ``logging.config.dictConfig()`` when
the app is built; called after :func:`~asgi_obs.init_structured_logging` (the natural order),
it replaces the root handler, and the JSON output is silently gone. *When* this is checked:
on the first request each :class:`~asgi_obs.RequestContextMiddleware` handles (one ``bool``
per request after that). *What* counts: asgi_obs' logging was set up in this process (a
:class:`~asgi_obs.ContextFilter` was made: :func:`~asgi_obs.init_structured_logging` and
``uvicorn_log_config()`` make one), the root logger has handlers, and none of them is
asgi_obs' (an asgi_obs handler, formatter or filter). Then one message goes to stderr, once
per process; nothing is changed.
"""

from __future__ import annotations

import logging
import sys

__all__ = ["check_root_handlers", "note_configured"]

_configured = False
_told = False

_MESSAGE = (
    "asgi_obs: the root logger's handler was replaced after init_structured_logging() "
    "(root handlers now: {handlers}), so log records are no longer written as JSON lines with "
    "the request ids. Something ran logging.config.dictConfig() later: Litestar() does, with its "
    "default logging_config. Fix: call init_structured_logging() after the app is built, or give "
    "the framework a logging config that leaves the root logger alone "
    "(Litestar(..., logging_config=None)).\n"
)


def note_configured() -> None:
    """Record that asgi_obs' logging was set up (called when a ContextFilter is made)."""
    global _configured
    _configured = True


def _is_ours(obj: object) -> bool:
    return type(obj).__module__.startswith("asgi_obs.")


def _handler_is_ours(handler: logging.Handler) -> bool:
    return _is_ours(handler) or _is_ours(handler.formatter) or any(_is_ours(f) for f in handler.filters)


def check_root_handlers() -> bool:
    """Tell the operator on stderr (once per process) when our root handler was replaced.

    Returns whether the message was written now.
    """
    global _told
    if _told or not _configured:
        return False
    handlers = logging.getLogger().handlers
    if not handlers or any(_handler_is_ours(h) for h in handlers):
        return False  # ours is there; or nobody's (removed, not replaced): nothing to say
    _told = True
    names = ", ".join(f"{type(h).__module__}.{type(h).__qualname__}" for h in handlers)
    try:
        sys.stderr.write(_MESSAGE.format(handlers=names))
    except Exception:  # noqa: BLE001 - stderr itself is broken: nowhere left to tell
        return False
    return True
