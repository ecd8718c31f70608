"""Recognising a server's lines that repeat what asgi_obs records, above all its "echo".

When the error layer re-raises (the response had started, so only the server can abort the
connection) the server logs the same exception again: uvicorn's "Exception in ASGI
application", hypercorn's "Error in ASGI Framework", daphne's "Exception inside application"
(each with ``exc_info``), granian's "Application callable raised an exception" (its Rust core
formats the traceback into the message; no ``exc_info``). :func:`echoed_exception` says which
exception such a record repeats; the log filter and the Sentry glue decide what to drop.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable

from .fields import SERVER_ECHO_PREFIXES, SERVER_ERROR_LOGGERS

__all__ = ["DEFAULT_SERVER_LOGGERS", "UVICORN_WEBSOCKET_LINES", "LoggerSet", "echoed_exception"]

# Logger names are finite, but a process could make many (one per tenant ...): bound the cache.
_CACHE_LIMIT = 4096


# uvicorn's per-WebSocket INFO lines (its own, and those of the websockets library it hands
# its "uvicorn.error" logger): the access record of the socket says the same, with the ids.
UVICORN_WEBSOCKET_LINES = frozenset(
    {
        '%s - "WebSocket %s" [accepted]',
        '%s - "WebSocket %s" 403',
        '%s - "WebSocket %s" %d',
        "connection open",
        "connection closed",
    }
)


class LoggerSet(dict[str, bool]):
    """Logger names and their children: ``loggers[name]`` is ``True`` for ``"_granian"`` and
    ``"_granian.utils"``, ``False`` for ``"_granianx"``.

    A dict of the names seen so far, so the check on every record is one C-level lookup; a
    new name is walked up its dotted parents once, in ``__missing__`` (a cache that only saves
    that work, bounded).
    """

    __slots__ = ("_names",)

    def __init__(self, names: Iterable[str]) -> None:
        super().__init__()
        self._names = frozenset(names)

    def __missing__(self, name: str) -> bool:
        probe, hit = name, False
        while probe:
            if probe in self._names:
                hit = True
                break
            probe = probe.rpartition(".")[0]
        if len(self) < _CACHE_LIMIT:
            self[name] = hit
        return hit


#: :data:`~asgi_obs.fields.SERVER_ERROR_LOGGERS` as a :class:`LoggerSet` (the Sentry glue's).
DEFAULT_SERVER_LOGGERS = LoggerSet(SERVER_ERROR_LOGGERS)


def echoed_exception(record: logging.LogRecord) -> BaseException | None:
    """The exception a server's record about a failed app carries, or ``None``.

    ``exc_info``'s exception when the record has one. Otherwise, for an ERROR whose message
    starts with one of :data:`~asgi_obs.fields.SERVER_ECHO_PREFIXES` (granian), the exception
    being handled right now: granian logs from inside the ``except`` block that caught the
    app's exception (``watcher.err(exc)`` in ``granian._futures``), synchronously, so
    ``sys.exc_info()`` is that very object — an identity, not a guess from the text. The text
    must name the exception's type too, so an unrelated exception being handled by the
    caller of some other logging call is never taken for it.
    """
    exc_info = record.exc_info
    if exc_info and isinstance(exc_info, tuple):
        return exc_info[1]
    msg = record.msg
    if record.levelno < logging.ERROR or type(msg) is not str or not msg.startswith(SERVER_ECHO_PREFIXES):
        return None
    current = sys.exc_info()[1]
    if current is None or type(current).__name__ not in msg:
        return None
    return current
