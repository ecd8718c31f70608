"""The output vocabulary: logger names, field names and reserved names, in one place.

A new field, or a schema preset that renames fields, is a change here; every layer, filter and
the Sentry glue import these names instead of spelling them again.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from ._types import Scope

__all__ = [
    "ACCESS_FIELDS",
    "ACCESS_LOGGER",
    "ERROR_FIELDS",
    "ERROR_LOGGER",
    "FRAMEWORK_ERROR_LOGGERS",
    "FRAMEWORK_ERROR_PREFIXES",
    "OUTPUT_LOGGER",
    "RECORD_ATTRS",
    "RESERVED_FIELDS",
    "SCHEMAS",
    "SERVER_ACCESS_LOGGERS",
    "SERVER_ECHO_PREFIXES",
    "SERVER_ERROR_LOGGERS",
    "SERVER_LOGGERS",
    "TOP_KEYS",
    "extra_fields",
    "method_of",
]

#: Default logger of the access records (``AccessLogMiddleware(logger=...)`` changes it).
ACCESS_LOGGER = "asgi_obs.access"
#: Default logger of the error records (``ErrorMiddleware(logger=...)`` changes it).
ERROR_LOGGER = "asgi_obs.error"
#: Logger of asgi_obs' own notes about its output (lines dropped by ``enqueue=True``).
OUTPUT_LOGGER = "asgi_obs.output"

#: Loggers on which a framework writes its own ERROR record of a failure it then answers with a
#: 5xx (Django's ``"Internal Server Error: /boom"``): absorbed into the error record.
FRAMEWORK_ERROR_LOGGERS = ("django.request",)
#: Messages a framework starts its own ERROR record of a failure with, on a logger named after
#: each app (Quart's ``app.logger``: ``"Exception on request GET /boom"``): absorbed likewise.
FRAMEWORK_ERROR_PREFIXES = ("Exception on request ", "Exception on websocket ")

#: Per server, the loggers its own lines are written on; its log config (``uvicorn_log_config()``
#: ...) removes their handlers and lets them propagate to the one root handler. gunicorn's
#: ``gunicorn.error`` is the exception: uvicorn's worker copies its handlers onto
#: ``uvicorn.error``, so it holds the root handler itself instead of propagating.
SERVER_LOGGERS: Mapping[str, tuple[str, ...]] = {
    "uvicorn": ("uvicorn", "uvicorn.error"),
    "hypercorn": ("hypercorn.error",),
    "granian": ("_granian",),  # its Rust core logs on "_granian.*" (pyo3-log), its Python side on "_granian"
    "gunicorn": ("gunicorn.error",),
    "daphne": ("daphne",),
}
#: Per server, its access logger, silenced by its log config: the access layer writes one
#: richer record per request (daphne's access lines are not a logger: ``daphne -v 0``).
SERVER_ACCESS_LOGGERS: Mapping[str, tuple[str, ...]] = {
    "uvicorn": ("uvicorn.access",),
    "hypercorn": ("hypercorn.access",),
    "granian": ("granian.access",),
    "gunicorn": ("gunicorn.access",),
}
#: Loggers (children included) on which a server writes its own record of an exception that
#: escaped the app: uvicorn's "Exception in ASGI application", hypercorn's "Error in ASGI
#: Framework", daphne's "Exception inside application", granian's "Application callable
#: raised an exception" (on ``_granian.utils``). ``ServerDuplicateFilter`` drops the record
#: when that exception was already logged, the Sentry glue the event when it was reported.
SERVER_ERROR_LOGGERS = ("uvicorn.error", "hypercorn.error", "daphne.server", "_granian")
#: Messages of a server's record of an exception whose traceback is in the text, not in
#: ``exc_info`` (granian's Rust core formats it): the exception is the one being handled.
SERVER_ECHO_PREFIXES = ("Application callable raised an exception",)

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
#: ``absorbed_from``: the logger of the framework's own record of the failure, folded into this one.
ERROR_FIELDS = (
    "method",
    "path",
    "status",
    "error_type",
    "error_message",
    "traceback_logged",
    "absorbed_from",
)

#: Attributes every ``LogRecord`` has on this Python (``taskName`` on 3.12+ ...).
RECORD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None)))

#: Names an ``extra=`` or ``bind()`` field may not take: what logging itself puts on a record
#: (``msg``, ``args`` ... would even change the rendered message), what formatters add, the
#: ids the filter adds, and uvicorn's ANSI-coloured copy of the message.
RESERVED_FIELDS = frozenset(
    RECORD_ATTRS
    | {"message", "asctime", "taskName", "request_id", "trace_id", "exc_info", "stack_info", "color_message"}
    | set(TOP_KEYS)  # "level", "logger", "timestamp": a field must never pass for them
)


#: The record layouts ``CustomJsonFormatter(schema=...)`` knows (see :mod:`asgi_obs.schemas`).
SCHEMAS = ("default", "ecs", "otel", "gcp")


def extra_fields(attrs: Mapping[str, Any], skip: frozenset[str] = RESERVED_FIELDS) -> dict[str, Any]:
    """The ``extra=``/``bind()``/layer fields of a record's ``__dict__``, in their order.

    What every output writes besides the standard keys: names not in ``skip`` and not starting
    with ``_`` (private attributes, such as the formatter's fast-path dict). A key that is not
    a ``str`` (``extra={1: "x"}``, ``{None: 1}``) is kept, as ``str(key)``: never a lost line.
    """
    try:
        return {key: value for key, value in attrs.items() if key not in skip and key[:1] != "_"}
    except TypeError:  # a non-str key: slicing it failed
        fields: dict[str, Any] = {}
        for key, value in attrs.items():
            if type(key) is not str:
                fields[_key_text(key)] = value
            elif key not in skip and key[:1] != "_":
                fields[key] = value
        return fields


def _key_text(key: object) -> str:
    try:
        return str(key)
    except Exception:  # noqa: BLE001 - a key whose __str__ fails still keeps its value
        return f"<unrepresentable {type(key).__name__}>"


def method_of(scope: Scope) -> str:
    """The method written on records: the HTTP method, or ``WEBSOCKET`` for a WebSocket."""
    if scope["type"] == "websocket":
        return "WEBSOCKET"
    method: str = scope.get("method", "GET")
    return method
