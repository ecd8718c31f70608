"""Process-wide logging setup: JSON lines on stdout, with the request's ids on every line.

Call :func:`init_structured_logging` once, first thing at startup (before the app is built),
or hand :func:`uvicorn_log_config` to uvicorn. Both give the root logger exactly one handler:
a ``StreamHandler`` on stdout with :class:`SuppressUnwantedLogsFilter` (when configured),
:class:`ServerDuplicateFilter`, :class:`ContextFilter` and :class:`CustomJsonFormatter`.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import IO, Any

from .filters import ContextFilter, ServerDuplicateFilter, SuppressUnwantedLogsFilter, parse_level
from .formatter import CustomJsonFormatter

__all__ = [
    "ContextFilter",
    "CustomJsonFormatter",
    "JsonLineHandler",
    "ServerDuplicateFilter",
    "SuppressUnwantedLogsFilter",
    "active_suppress_filter",
    "init_structured_logging",
    "make_handler",
    "uvicorn_log_config",
]

# Loggers whose records should flow to the root handler; their own handlers are removed.
_SERVER_LOGGERS = ("uvicorn", "uvicorn.error")
# The access layer replaces uvicorn's access line; without handlers uvicorn skips it entirely
# (it checks ``access_logger.hasHandlers()``), which also saves its formatting cost.
_SILENCED_LOGGERS = ("uvicorn.access",)

# Options of the last init_structured_logging() call, reused by make_handler() so that
# uvicorn_log_config() reproduces the same handler after uvicorn's dictConfig.
_last_options: dict[str, Any] = {}
_active_suppress: SuppressUnwantedLogsFilter | None = None


class JsonLineHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The ``StreamHandler`` of :func:`init_structured_logging`: one flushed line per record.

    Behaves as ``logging.StreamHandler`` (filters, ``setStream``, ``handleError``) with less
    work per record: the handler lock is taken once (the base class takes it again to flush),
    and the flush follows the write directly, so each record reaches the stream at once.
    """

    def handle(self, record: logging.LogRecord) -> Any:
        # Handler.handle() with Filterer.filter() inlined (one call less per record); a filter
        # may return a replacement record, as Python 3.12+ allows.
        for flt in self.filters:
            result = flt.filter(record) if hasattr(flt, "filter") else flt(record)
            if not result:
                return False
            if isinstance(result, logging.LogRecord):
                record = result
        with self.lock:  # type: ignore[union-attr]
            self.emit(record)
        return record

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = (self.formatter or _DEFAULT_FORMATTER).format(record)
            stream = self.stream
            stream.write(text + "\n")
            stream.flush()
        except RecursionError:  # as logging does: never swallow a recursion
            raise
        except Exception:  # noqa: BLE001 - logging's own policy: report on stderr, carry on
            self.handleError(record)


_DEFAULT_FORMATTER = logging.Formatter()


def active_suppress_filter() -> SuppressUnwantedLogsFilter | None:
    """Return the suppression filter of the installed handler (Sentry breadcrumbs use it)."""
    return _active_suppress


def _resolve_level(level: str | int | None) -> int:
    if level is not None:
        return parse_level(level, source="level")
    env = os.environ.get("LOG_LEVEL")
    if env is None or not env.strip():
        return logging.INFO
    return parse_level(env, source="LOG_LEVEL")


def make_handler(
    *,
    stream: IO[str] | None = None,
    suppress: SuppressUnwantedLogsFilter | bool | None = None,
    formatter: logging.Formatter | None = None,
    static_fields: dict[str, Any] | None = None,
    rename_fields: dict[str, str] | None = None,
    use_orjson: bool | None = None,
    **_ignored: Any,
) -> JsonLineHandler:
    """Build the handler :func:`init_structured_logging` installs, without installing it.

    Options not given fall back to those of the last :func:`init_structured_logging` call.
    ``suppress``: a filter; ``True`` for one built from the ``LOG_SUPPRESS_*`` environment
    variables; ``None`` (the default) for the same only when one of them is set; ``False`` for
    none. Also the ``()`` factory that
    :func:`uvicorn_log_config` names, so uvicorn's ``dictConfig`` reproduces the same handler.
    """
    global _active_suppress
    given = {
        "stream": stream,
        "suppress": suppress,
        "formatter": formatter,
        "static_fields": static_fields,
        "rename_fields": rename_fields,
        "use_orjson": use_orjson,
    }
    options = {**_last_options, **{k: v for k, v in given.items() if v is not None}}
    suppress_filter = options.get("suppress")
    if suppress_filter is True or (
        suppress_filter is None
        and (os.environ.get("LOG_SUPPRESS_LOGGERS") or os.environ.get("LOG_SUPPRESS_PATHS"))
    ):
        suppress_filter = SuppressUnwantedLogsFilter()  # configured from the environment
    handler = JsonLineHandler(options.get("stream") or sys.stdout)
    if isinstance(suppress_filter, SuppressUnwantedLogsFilter):
        handler.addFilter(suppress_filter)
        _active_suppress = suppress_filter
    else:
        _active_suppress = None
    handler.addFilter(ServerDuplicateFilter())
    handler.addFilter(ContextFilter())
    handler.setFormatter(
        options.get("formatter")
        or CustomJsonFormatter(
            static_fields=options.get("static_fields"),
            rename_fields=options.get("rename_fields"),
            use_orjson=options.get("use_orjson"),
        )
    )
    return handler


def _tame_server_loggers() -> None:
    for name in _SERVER_LOGGERS:
        logger = logging.getLogger(name)
        for old in logger.handlers[:]:
            logger.removeHandler(old)
        logger.propagate = True
    for name in _SILENCED_LOGGERS:
        logger = logging.getLogger(name)
        for old in logger.handlers[:]:
            logger.removeHandler(old)
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
) -> JsonLineHandler:
    """Send every log record to stdout as one JSON line carrying the request's ids.

    Call it once at startup, before the app and its loggers are used. It:

    * sets the root level from ``level`` (a name in any case, or a number), else the
      ``LOG_LEVEL`` environment variable, else ``INFO``; an invalid value raises
      ``ValueError`` naming ``level`` or ``LOG_LEVEL`` and listing the accepted values;
    * removes the root logger's existing handlers and installs one ``StreamHandler`` on
      ``stream`` (default ``sys.stdout``) with the filters and :class:`CustomJsonFormatter`;
    * routes ``uvicorn`` and ``uvicorn.error`` through that handler and silences
      ``uvicorn.access`` (the access layer writes a richer record).

    A second call replaces the first completely (its options and stream win); there is still one
    handler, so no line is ever doubled. Returns the installed handler.

    When uvicorn is started with its default ``log_config`` it reconfigures its loggers after
    this call; start it with ``log_config=None`` or ``log_config=uvicorn_log_config()``.
    """
    global _last_options
    resolved = _resolve_level(level)
    options: dict[str, Any] = {
        "stream": stream,
        "suppress": suppress,
        "formatter": formatter,
        "static_fields": static_fields,
        "rename_fields": rename_fields,
        "use_orjson": use_orjson,
    }
    _last_options = {}  # this call replaces the last one completely
    handler = make_handler(**options)
    _last_options = options
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
        if isinstance(old, JsonLineHandler):  # ours: nobody else holds it
            old.close()
    root.addHandler(handler)
    root.setLevel(resolved)
    _tame_server_loggers()
    return handler


def uvicorn_log_config(level: str | int | None = None, **options: Any) -> dict[str, Any]:
    """Return a ``dictConfig`` dict equivalent to :func:`init_structured_logging`.

    Pass it as uvicorn's ``log_config=`` (or write it to a ``.json`` file for
    ``uvicorn --log-config``): uvicorn applies it when it starts, and the result is the same
    single handler. ``options`` are JSON-serialisable handler options (``static_fields``,
    ``rename_fields``, ``use_orjson``); options not given are those of the last
    :func:`init_structured_logging` call, so combining both still yields one handler and one
    line per record. The level is resolved now (argument, ``LOG_LEVEL``, ``INFO``).
    """
    resolved = _resolve_level(level)
    formatter = {"()": "asgi_obs.formatter.CustomJsonFormatter"}
    silenced = {"handlers": [], "propagate": False}
    return {
        "version": 1,
        # Loggers created before uvicorn starts (the app's, asgi_obs.access) must keep working.
        "disable_existing_loggers": False,
        # uvicorn writes ``use_colors`` into these two names when --use-colors is given.
        "formatters": {"default": dict(formatter), "access": dict(formatter)},
        "handlers": {"default": {"()": "asgi_obs.logging_config.make_handler", **options}},
        "loggers": {
            **{name: {"handlers": [], "propagate": True} for name in _SERVER_LOGGERS},
            **{name: dict(silenced) for name in _SILENCED_LOGGERS},
        },
        "root": {"level": resolved, "handlers": ["default"]},
    }
