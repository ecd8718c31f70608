"""The output vocabulary: logger names, field names and reserved names, in one place.

A new field, or a schema preset that renames fields, is a change here; every layer, filter and
the Sentry glue import these names instead of spelling them again.
"""

from __future__ import annotations

import logging

from ._types import Scope

__all__ = [
    "ACCESS_FIELDS",
    "ACCESS_LOGGER",
    "ERROR_FIELDS",
    "ERROR_LOGGER",
    "OUTPUT_LOGGER",
    "RECORD_ATTRS",
    "RESERVED_FIELDS",
    "TOP_KEYS",
    "method_of",
]

#: Default logger of the access records (``AccessLogMiddleware(logger=...)`` changes it).
ACCESS_LOGGER = "asgi_obs.access"
#: Default logger of the error records (``ErrorMiddleware(logger=...)`` changes it).
ERROR_LOGGER = "asgi_obs.error"
#: Logger of asgi_obs' own notes about its output (lines dropped by ``enqueue=True``).
OUTPUT_LOGGER = "asgi_obs.output"

#: The keys every JSON line starts with, in this order (DESIGN §5).
TOP_KEYS = ("timestamp", "level", "logger", "message", "request_id", "trace_id")

#: Fields of an HTTP access record, in the order they are written (DESIGN §5). A WebSocket's
#: record adds ``close_code``, ``messages_in`` and ``messages_out``.
ACCESS_FIELDS = (
    "method",
    "path",
    "route",
    "query",
    "status",
    "duration_ms",
    "request_bytes",
    "response_bytes",
    "client_ip",
    "user_agent",
    "http_version",
    "outcome",
)

#: Fields of an error record; ``error_type``/``error_message`` only when there is an exception.
ERROR_FIELDS = ("method", "path", "status", "error_type", "error_message", "traceback_logged")

#: Attributes every ``LogRecord`` has on this Python (``taskName`` on 3.12+ ...).
RECORD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None)))

#: Names an ``extra=`` or ``bind()`` field may not take: what logging itself puts on a record
#: (``msg``, ``args`` ... would even change the rendered message), what formatters add, the
#: ids the filter adds, and uvicorn's ANSI-coloured copy of the message.
RESERVED_FIELDS = frozenset(
    RECORD_ATTRS
    | {"message", "asctime", "taskName", "request_id", "trace_id", "exc_info", "stack_info", "color_message"}
)


def method_of(scope: Scope) -> str:
    """The method written on records: the HTTP method, or ``WEBSOCKET`` for a WebSocket."""
    if scope["type"] == "websocket":
        return "WEBSOCKET"
    method: str = scope.get("method", "GET")
    return method
