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
(``propagate``) are not exactly one ``JsonLineHandler`` that allows it (filters, formatter and
level as ``make_handler`` set them; see ``direct_formatter``); ``Logger.callHandlers`` is not
the standard library's (Sentry's logging integration patches it to see every record, for
breadcrumbs); a custom ``logging.setLogRecordFactory()`` is set; a schema preset or any
formatter option needs the record.
"""

from __future__ import annotations

import logging
from typing import Any

from .formatter import CustomJsonFormatter
from .handler import JsonLineHandler

__all__ = ["DirectRoute"]


def _is_stdlib(function: Any) -> bool:
    return getattr(function, "__module__", None) == "logging" and (
        getattr(function, "__qualname__", None) == "Logger.callHandlers"
    )


class DirectRoute:
    """For one layer's logger: where a record may be written directly, checked per record."""

    __slots__ = ("_call_ok", "_checked_call", "_logger")

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger
        self._checked_call: Any = None
        self._call_ok = False

    def handler(self, level: int) -> tuple[JsonLineHandler, CustomJsonFormatter] | None:
        """The handler and formatter to write a record at ``level`` directly, or ``None``.

        ``None`` means: take the full ``LogRecord`` path (see the module for when). The caller
        has checked ``logger.isEnabledFor(level)``.
        """
        logger = self._logger
        if logger.filters or logger.disabled:
            return None
        call = type(logger).callHandlers
        if call is not self._checked_call:  # patched (Sentry), or a custom Logger class
            self._checked_call, self._call_ok = call, _is_stdlib(call)
        if not self._call_ok or logging.getLogRecordFactory() is not logging.LogRecord:
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
        formatter = found.direct_formatter(logger.name)
        return (found, formatter) if formatter is not None else None
