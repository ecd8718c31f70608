"""Writing a layer's record straight from its fields, when nothing else would see its LogRecord.

The access record is written on every request. Through :mod:`logging` it becomes a
``LogRecord``, passes the handler's filters and is formatted: several microseconds, spent for
the benefit of whoever else might look at the record. In most services nobody does: the one
handler :func:`~asgi_obs.init_structured_logging` installed is the only one on the way, with
only asgi_obs' own filters and formatter. Then the layer builds the line's final dict itself
(the top keys, then its fields: the order the formatter writes) and the handler encodes and
writes it (:meth:`~asgi_obs.logging_config.JsonLineHandler.write_direct`): the same bytes,
through the same encoding code, with no ``LogRecord``.

:meth:`DirectRoute.handler` decides on **every** record, so any change to the logging setup
takes effect at once (no cached verdict to go stale). The full path is taken whenever one of
these holds: the logger has a filter or is disabled; the handlers met walking up from it
(``propagate``) are not exactly one ``JsonLineHandler`` that allows it (the filters and the
formatter ``make_handler`` gave it, see ``JsonLineHandler.allow_direct``, and a level the
record passes); ``Logger.callHandlers`` is not the standard library's (Sentry's logging
integration patches it to see every record, for breadcrumbs; a ``functools.wraps`` patch is
recognised by its code), or ``JsonLineHandler.emit``/``handle`` or
``CustomJsonFormatter.format`` is patched on the class; a custom
``logging.setLogRecordFactory()`` is set; a schema preset or any formatter option needs the
record (``CustomJsonFormatter.direct``).

Not seen (a documented limitation, ``tests/test_direct.py``): a method patched on the
*instance* of the installed handler (``mock.patch.object(handler, "emit")``). Checking for
one on every record costs about 5% of the whole stack's overhead (measured); patching the
class, adding a handler or a filter are all seen.
"""

from __future__ import annotations

import logging
from typing import Any

from .formatter import CustomJsonFormatter
from .handler import JsonLineHandler

__all__ = ["DirectRoute"]

_LogRecord = logging.LogRecord
_EMIT = JsonLineHandler.emit
_HANDLE = JsonLineHandler.handle
_FORMAT = CustomJsonFormatter.format


def _is_stdlib(function: Any) -> bool:
    # The code object's file, not __module__/__qualname__: functools.wraps copies those.
    code = getattr(function, "__code__", None)
    return (
        code is not None
        and code.co_filename == logging.__file__
        and code.co_name == "callHandlers"
        and not hasattr(function, "__wrapped__")
    )


class DirectRoute:
    """For one layer's logger: whether a record may be written directly, checked per record."""

    __slots__ = ("_call", "_logger", "_setup")

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger
        self._call: Any = None  # the callHandlers found to be the standard library's
        self._setup: Any = None  # the handler setup found not to watch this logger's name

    def handler(self, level: int) -> JsonLineHandler | None:
        """The handler to write a record at ``level`` directly (``write_direct``), or ``None``.

        ``None`` means: take the full ``LogRecord`` path (see the module for when). The caller
        has checked ``logger.isEnabledFor(level)``. (On every access record: kept tight.)
        """
        logger = self._logger
        if logger.filters or logger.disabled:
            return None
        call = type(logger).callHandlers
        if call is not self._call:  # patched (Sentry's logging integration), a custom Logger class
            if not _is_stdlib(call):
                return None
            self._call = call
        if logging.getLogRecordFactory() is not _LogRecord:
            return None
        found = None
        node: logging.Logger | None = logger
        while node is not None:  # Logger.callHandlers' walk
            handlers = node.handlers
            if handlers:
                if found is not None or len(handlers) != 1:
                    return None
                found = handlers[0]
            node = node.parent if node.propagate else None
        if type(found) is not JsonLineHandler or level < found.level:
            return None
        if (
            JsonLineHandler.emit is not _EMIT
            or JsonLineHandler.handle is not _HANDLE
            or CustomJsonFormatter.format is not _FORMAT
        ):
            return None  # patched on the class (a test's spy, a metrics wrapper): it must run
        setup = found._direct_setup
        if setup is None or found.formatter is not setup[1] or found.filters != setup[0]:
            return None  # a filter added or removed, the formatter replaced, since make_handler
        if setup is not self._setup:
            if setup[2].watches(logger.name):  # a server's logger name: its duplicate checks apply
                return None
            self._setup = setup
        return found
