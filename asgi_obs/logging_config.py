"""Process-wide logging setup: JSON lines on stdout, with the request's ids on every line.

Call :func:`init_structured_logging` once, first thing at startup (before the app is built),
or hand the server its config (:func:`uvicorn_log_config`, :func:`hypercorn_log_config`,
:func:`granian_log_config`, :func:`gunicorn_log_config`, from :mod:`asgi_obs.server_logs`).
Both give the root logger exactly one handler:
a :class:`JsonLineHandler` on stdout with :class:`SuppressUnwantedLogsFilter` (when configured),
:class:`ServerDuplicateFilter`, :class:`ContextFilter` and the formatter (by default
:class:`CustomJsonFormatter`). No module state: what a call installs depends only on its
options (one frozen :class:`LoggingOptions`) and the environment.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import IO, Any

from ._options import LoggingOptions, resolve_level
from .fields import SERVER_ACCESS_LOGGERS, SERVER_LOGGERS
from .filters import ContextFilter, ServerDuplicateFilter, SuppressUnwantedLogsFilter
from .formatter import CustomJsonFormatter
from .handler import JsonLineHandler
from .server_logs import granian_log_config, gunicorn_log_config, hypercorn_log_config, uvicorn_log_config

__all__ = [
    "ContextFilter",
    "CustomJsonFormatter",
    "JsonLineHandler",
    "LoggingOptions",
    "ServerDuplicateFilter",
    "SuppressUnwantedLogsFilter",
    "build_formatter",
    "granian_log_config",
    "gunicorn_log_config",
    "hypercorn_log_config",
    "init_structured_logging",
    "installed_suppress_filter",
    "make_handler",
    "uvicorn_log_config",
]

# Server loggers whose records should flow to the root handler; their own handlers are removed.
_SERVER_LOGGERS = tuple(
    name for server, names in SERVER_LOGGERS.items() if server != "gunicorn" for name in names
)
# The access layer replaces the servers' access lines; without handlers uvicorn skips its line
# entirely (it checks ``access_logger.hasHandlers()``), which also saves its formatting cost.
_SILENCED_LOGGERS = tuple(name for names in SERVER_ACCESS_LOGGERS.values() for name in names)
# Loggers that hold the root handler itself (see gunicorn_log_config): a replaced one is swapped.
_HOLDING_LOGGERS = SERVER_LOGGERS["gunicorn"]


def installed_suppress_filter() -> SuppressUnwantedLogsFilter | None:
    """The suppression filter of the asgi_obs handler on the root logger now, if any.

    Asked at each call (Sentry's ``before_breadcrumb`` asks per breadcrumb), so it always
    reflects the handler installed last, by :func:`init_structured_logging` or by a
    ``dictConfig`` of :func:`uvicorn_log_config`.
    """
    for handler in logging.getLogger().handlers:
        if isinstance(handler, JsonLineHandler):
            return handler.suppress_filter
    return None


def build_formatter(options: LoggingOptions) -> logging.Formatter:
    """The formatter ``options`` describe: the one place that maps ``fmt``/``schema`` to a class."""
    if options.formatter is not None:
        return options.formatter
    if options.fmt == "console":
        from .console import ConsoleFormatter  # only when asked for

        # The stream the handler writes to decides whether colours are wanted (a TTY).
        return ConsoleFormatter(stream=options.stream or sys.stdout)
    return CustomJsonFormatter(
        static_fields=dict(options.static_fields or {}),
        rename_fields=dict(options.rename_fields or {}),
        use_orjson=options.use_orjson,
        max_line_bytes=options.max_line_bytes,
        schema=options.schema,
    )


def make_handler(options: LoggingOptions | None = None, /, **kwargs: Any) -> JsonLineHandler:
    """Build the handler :func:`init_structured_logging` installs, without installing it.

    A pure factory: the handler depends on ``options`` (or the keyword options of
    :func:`init_structured_logging`, resolved with :meth:`LoggingOptions.resolve`) and the
    environment, never on an earlier call. Also the ``()`` factory that
    :func:`uvicorn_log_config` names: ``dictConfig`` calls it with the options written in the
    dict, and the stream is ``sys.stdout`` as it is then.
    """
    if options is None:
        options = LoggingOptions.resolve(**kwargs)
    elif kwargs:
        raise ValueError("make_handler: pass a LoggingOptions or keyword options, not both")
    suppress = options.suppress
    if suppress is True or (
        suppress is None and (os.environ.get("LOG_SUPPRESS_LOGGERS") or os.environ.get("LOG_SUPPRESS_PATHS"))
    ):
        suppress = SuppressUnwantedLogsFilter()  # configured from the environment
    handler = JsonLineHandler(options.stream or sys.stdout, enqueue=options.enqueue)
    if isinstance(suppress, SuppressUnwantedLogsFilter):
        handler.addFilter(suppress)
        handler.suppress_filter = suppress
    handler.addFilter(ServerDuplicateFilter())
    handler.addFilter(ContextFilter())
    handler.setFormatter(build_formatter(options))
    handler.allow_direct()  # the layers' records may skip the LogRecord while it stays so
    return handler


def _tame_server_loggers(replaced: list[logging.Handler], handler: JsonLineHandler) -> None:
    for name in _HOLDING_LOGGERS:
        logger = logging.getLogger(name)
        for old in logger.handlers[:]:
            if old in replaced:  # gunicorn_log_config's handler, now replaced: keep one line each
                logger.removeHandler(old)
                logger.addHandler(handler)
    # A new, empty list rather than removing handlers one by one: uvicorn's gunicorn worker
    # assigns gunicorn.error's very list to uvicorn.error, and emptying it would silence both.
    for name in _SERVER_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers = []
        logger.propagate = True
    for name in _SILENCED_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers = []
        logger.propagate = False


def init_structured_logging(
    level: str | int | None = None,
    *,
    stream: IO[str] | None = None,
    suppress: SuppressUnwantedLogsFilter | bool | None = None,
    formatter: logging.Formatter | None = None,
    static_fields: dict[str, Any] | None = None,
    rename_fields: dict[str, str] | None = None,
    use_orjson: bool | None = None,
    fmt: str | None = None,
    schema: str | None = None,
    enqueue: bool | None = None,
    max_line_bytes: int | None = None,
) -> JsonLineHandler:
    """Send every log record to stdout as one JSON line carrying the request's ids.

    Call it once at startup, before the app and its loggers are used. It:

    * sets the root level from ``level`` (a name in any case, or a number), else the
      ``LOG_LEVEL`` environment variable, else ``INFO``; an invalid value raises
      ``ValueError`` naming ``level`` or ``LOG_LEVEL`` and listing the accepted values;
    * removes the root logger's existing handlers and installs one :class:`JsonLineHandler` on
      ``stream`` (default ``sys.stdout``) with the filters and the formatter;
    * routes the servers' loggers (``uvicorn``, ``uvicorn.error``, ``hypercorn.error``,
      ``_granian``, ``daphne``: :data:`~asgi_obs.fields.SERVER_LOGGERS`) through that handler
      and silences their access loggers (the access layer writes a richer record).

    Output options (DESIGN §11), each also from the environment when not given:
    ``fmt`` ``"json"`` or ``"console"`` (``LOG_FORMAT``); ``schema`` ``"default"``, ``"ecs"``,
    ``"otel"`` or ``"gcp"`` (``LOG_SCHEMA``); ``enqueue`` (``LOG_ENQUEUE``): lines written by a
    writer thread through a bounded queue, dropped and counted when it is full, instead of the
    caller blocking on a slow reader; ``max_line_bytes`` (default 64 KiB): longer records are
    cut inside their longest fields. Every option is validated before anything changes: an
    invalid value is a ``ValueError`` naming the argument or the environment variable.

    A second call replaces the first completely (its options and stream win; the first
    handler's queue is drained first); there is still one handler, so no line is ever doubled.
    Returns the installed handler.

    When uvicorn is started with its default ``log_config`` it reconfigures its loggers after
    this call; start it with ``log_config=None`` or ``log_config=uvicorn_log_config(...)`` given
    the same options.
    """
    resolved = resolve_level(level)
    options = LoggingOptions.resolve(
        stream=stream,
        suppress=suppress,
        formatter=formatter,
        static_fields=static_fields,
        rename_fields=rename_fields,
        use_orjson=use_orjson,
        fmt=fmt,
        schema=schema,
        enqueue=enqueue,
        max_line_bytes=max_line_bytes,
    )
    handler = make_handler(options)
    root = logging.getLogger()
    replaced: list[logging.Handler] = []
    for old in root.handlers[:]:
        if isinstance(old, JsonLineHandler):  # ours: only server loggers may hold it too
            old.flush()  # its queued lines first, so the stream keeps their order
            root.removeHandler(old)
            old.close()
            replaced.append(old)
        else:
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(resolved)
    _tame_server_loggers(replaced, handler)
    return handler
