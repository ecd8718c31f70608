"""Logging filters: request context on every record, noise and duplicate suppression.

All three are plain :class:`logging.Filter` subclasses that run synchronously in the logging
call, so they see the request's context variables. :func:`~asgi_obs.init_structured_logging`
installs them on its handler in this order: suppression first (cheapest way out), then the
server-duplicate filter, then :class:`ContextFilter` (last, so that it only marks exceptions
that are really written).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Mapping

from . import _absorb, _marks, _root_check
from ._compat import group_members
from ._echo import UVICORN_WEBSOCKET_LINES, LoggerSet, echoed_exception
from ._emit import record_kind
from .classify import unwrap
from .context import request_id_var, state_var, trace_id_var
from .fields import FRAMEWORK_ERROR_LOGGERS, FRAMEWORK_ERROR_PREFIXES, SERVER_ERROR_LOGGERS

__all__ = ["ContextFilter", "ServerDuplicateFilter", "SuppressUnwantedLogsFilter", "parse_level"]

_LEVEL_NAMES = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG", "NOTSET")


def parse_level(value: str | int, *, source: str) -> int:
    """Turn a level name (any case) or number into a number; ``ValueError`` naming ``source``."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"{source}={value!r} is not a valid log level (negative)")
        return value
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return int(text)
        registered = logging.getLevelName(text.upper())  # FATAL, WARN, addLevelName()'s ...
        if isinstance(registered, int):
            return registered
    raise ValueError(
        f"{source}={value!r} is not a valid log level; use one of "
        f"{', '.join(_LEVEL_NAMES)} (any case) or a number"
    )


class ContextFilter(logging.Filter):
    """Add ``request_id``, ``trace_id`` and :func:`~asgi_obs.bind` fields to every record.

    Runs when a record reaches the handler (or logger) it is attached to, synchronously in the
    logging call, so it reads the context of the code that logged. Outside a request the ids are
    ``None``. Values already on the record (an explicit ``extra=``) are kept, which also makes
    attaching the filter twice harmless. A record carrying an exception marks that exception as
    written with its traceback, so the error layer does not repeat it. Never raises, never drops.
    """

    def __init__(self, name: str = "") -> None:
        super().__init__(name)
        _root_check.note_configured()  # asgi_obs' logging is set up: a replaced root is news

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            attrs = record.__dict__
            if "request_id" not in attrs:
                attrs["request_id"] = request_id_var.get()
            if "trace_id" not in attrs:
                attrs["trace_id"] = trace_id_var.get()
            state = state_var.get()
            if state is not None and state.fields:
                for key, value in state.fields.items():
                    attrs.setdefault(key, value)
            exc_info = record.exc_info
            if exc_info and isinstance(exc_info, tuple) and exc_info[1] is not None:
                exc = exc_info[1]
                _marks.mark_logged(exc, state)
                if group_members(exc):  # the server may re-raise the group or its one member
                    _marks.mark_logged(unwrap(exc), state)
        except Exception:  # noqa: BLE001 - a filter that raises would lose the line
            return True
        return True


class ServerDuplicateFilter(logging.Filter):
    """Drop what the server or the framework logs again about a request asgi_obs records.

    * A server's own record of an exception asgi_obs already logged: when the error layer
      re-raises (the response had started, so only the server can abort the connection), the
      server logs the same exception again — uvicorn's "Exception in ASGI application",
      hypercorn's "Error in ASGI Framework" (under ``-k trio`` an exception group whose single
      member was logged counts as that member), daphne's "Exception inside application",
      granian's "Application callable raised an exception" (traceback in the text; see
      :func:`asgi_obs._echo.echoed_exception`). The error layer wrote it with the request's
      ids and traceback, so the copy goes and the traceback appears once. ``loggers`` are
      the servers' loggers, children included (``"_granian"`` covers ``"_granian.utils"``).
    * uvicorn's INFO lines about each WebSocket (``"WebSocket /ws" [accepted]``, ``connection
      open`` ...), which duplicate the socket's access record.
    * A framework's own ERROR record of a failure, written during a request an
      :class:`~asgi_obs.ErrorMiddleware` handles: on one of ``framework_loggers`` (Django's
      ``django.request``), or starting with one of ``framework_prefixes`` (Quart's
      ``"Exception on request ..."``, on a logger named after the app). It is held in the
      request's state when it reaches this filter, folded into the error layer's one record
      (which then carries its traceback), and written after all at the end of the request if
      no failure was reported (see :mod:`asgi_obs._absorb`). ``()`` for either turns it off.

    Records of other loggers, and server records for exceptions nobody logged, pass.
    """

    def __init__(
        self,
        loggers: Iterable[str] = SERVER_ERROR_LOGGERS,
        *,
        framework_loggers: Iterable[str] = FRAMEWORK_ERROR_LOGGERS,
        framework_prefixes: Iterable[str] = FRAMEWORK_ERROR_PREFIXES,
    ) -> None:
        super().__init__()
        options = {"framework_loggers": framework_loggers, "framework_prefixes": framework_prefixes}
        for name, value in options.items():
            if isinstance(value, str):
                raise ValueError(f"{name} must be a collection of strings, not a single string")
        if isinstance(loggers, str):
            raise ValueError("loggers must be a collection of strings, not a single string")
        self._loggers = LoggerSet(loggers)
        self._framework_loggers = frozenset(framework_loggers)
        self._framework_prefixes = tuple(framework_prefixes)

    def watches(self, logger_name: str) -> bool:
        """Whether records of ``logger_name`` are checked as a server's (the direct path asks)."""
        return self._loggers[logger_name]

    def _framework_failure(self, record: logging.LogRecord) -> bool:
        # Only ERROR and above gets here: the common record costs one comparison.
        state = state_var.get()
        if state is None or not state.absorbing or record_kind(record) is not None:
            return False
        if record.name not in self._framework_loggers:
            msg = record.msg
            if not (type(msg) is str and msg.startswith(self._framework_prefixes)):
                return False
        return _absorb.hold(record, state, self)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR and self._framework_failure(record):
            return False
        if not self._loggers[record.name]:
            return True
        if record.exc_info or record.levelno >= logging.ERROR:
            exc = echoed_exception(record)
            if exc is not None:
                state = state_var.get()
                return not (_marks.is_logged(exc, state) or _marks.is_logged(unwrap(exc), state))
            if record.exc_info:
                return True
        msg = record.msg
        return not (record.levelno < logging.WARNING and type(msg) is str and msg in UVICORN_WEBSOCKET_LINES)


def _parse_loggers_env(text: str) -> dict[str, str]:
    result: dict[str, str] = {}
    for raw in text.split(","):
        item = raw.strip()
        if not item:
            continue
        name, sep, level = item.partition("=")
        name = name.strip()
        if not name:
            raise ValueError(f"LOG_SUPPRESS_LOGGERS: empty logger name in {item!r}")
        result[name] = level.strip() if sep else "WARNING"
    return result


class SuppressUnwantedLogsFilter(logging.Filter):
    """Drop noise before it is formatted (and before it becomes a Sentry breadcrumb).

    A record is dropped when, and only when, one of these holds:

    * its logger (or an ancestor) is listed in ``loggers`` and the record is below that level,
      e.g. ``{"httpx": "WARNING"}`` drops httpx's INFO request lines;
    * its rendered message matches one of ``patterns`` (compiled once, into one expression);
    * it is a *successful* access record (of any ``AccessLogMiddleware``, whatever its
      ``logger``; outcome ``success``) for one of
      ``paths`` (exact match), e.g. ``/health``. A failing health check is still logged.

    Records at ERROR or above are never dropped unless ``suppress_errors=True``.

    With ``use_env=True`` (the default) the environment adds to what the code configures:

    * ``LOG_SUPPRESS_LOGGERS="httpx=WARNING,botocore=ERROR,noisy"``: comma-separated
      ``logger=LEVEL`` pairs; a bare name means ``WARNING``;
    * ``LOG_SUPPRESS_PATHS="/health,/metrics"``: comma-separated exact paths.

    Invalid levels or patterns raise ``ValueError`` at construction, naming the culprit.
    """

    def __init__(
        self,
        *,
        loggers: Mapping[str, int | str] | None = None,
        patterns: Iterable[str | re.Pattern[str]] = (),
        paths: Iterable[str] = (),
        suppress_errors: bool = False,
        use_env: bool = True,
    ) -> None:
        super().__init__()
        levels: dict[str, int] = {}
        for name, level in (loggers or {}).items():
            levels[name] = parse_level(level, source=f"loggers[{name!r}]")
        path_set = set(paths)
        if use_env:
            for name, level in _parse_loggers_env(os.environ.get("LOG_SUPPRESS_LOGGERS", "")).items():
                levels[name] = parse_level(level, source=f"LOG_SUPPRESS_LOGGERS ({name})")
            env_paths = os.environ.get("LOG_SUPPRESS_PATHS", "")
            path_set.update(p.strip() for p in env_paths.split(",") if p.strip())
        sources = [p.pattern if isinstance(p, re.Pattern) else p for p in patterns]
        try:
            self._pattern = re.compile("|".join(f"(?:{s})" for s in sources)) if sources else None
        except re.error as exc:
            raise ValueError(f"SuppressUnwantedLogsFilter: invalid pattern: {exc}") from exc
        self._levels = levels
        self._paths = frozenset(path_set)
        self._max_level = logging.CRITICAL + 1 if suppress_errors else logging.ERROR
        # Logger name -> threshold (0 when not configured); filled lazily, names are finite.
        self._threshold_cache: dict[str, int] = {}

    @property
    def paths(self) -> frozenset[str]:
        """The paths whose successful access records are dropped."""
        return self._paths

    def _threshold(self, name: str) -> int:
        cached = self._threshold_cache.get(name)
        if cached is not None:
            return cached
        threshold = 0
        probe = name
        while probe:
            level = self._levels.get(probe)
            if level is not None:
                threshold = level
                break
            probe = probe.rpartition(".")[0]
        self._threshold_cache[name] = threshold
        return threshold

    def should_suppress(self, record: logging.LogRecord) -> bool:
        """Tell whether ``record`` is noise; the same predicate serves Sentry breadcrumbs."""
        levelno = record.levelno
        if levelno >= self._max_level:
            return False
        success_path = None
        if (
            self._paths
            and record_kind(record) == "access"  # whatever logger name the layer was given
            and getattr(record, "outcome", None) == "success"
        ):
            success_path = getattr(record, "path", None)
        return self._drops(levelno, record.name, success_path, record)

    def drops_access(self, level: int, logger_name: str, outcome: str, path: str, message: str) -> bool:
        """:meth:`should_suppress` for an access record given by its values (direct emission)."""
        if level >= self._max_level:
            return False
        return self._drops(level, logger_name, path if outcome == "success" else None, message)

    def _drops(self, levelno: int, name: str, success_path: object, message: logging.LogRecord | str) -> bool:
        if self._levels and levelno < self._threshold(name):
            return True
        if success_path is not None and success_path in self._paths:
            return True
        if self._pattern is not None:
            if not isinstance(message, str):
                try:
                    message = message.getMessage()
                except Exception:  # noqa: BLE001 - a broken message is not noise; let it through
                    return False
            return self._pattern.search(message) is not None
        return False

    def filter(self, record: logging.LogRecord) -> bool:
        return not self.should_suppress(record)
