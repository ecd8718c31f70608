"""Writing a record built by a layer: cheaply, and such that a logging failure never breaks a request.

The access record is written on every request, so it skips what a ``logger.info()`` call pays
for and does not need: ``findCaller``'s stack walk, ``makeRecord``'s checks of ``extra``, and
the per-record recomputation of what never changes within a process (file and module names,
process name). The result is a genuine :class:`logging.LogRecord` with every standard
attribute, handed to ``logger.handle()``: users' filters, handlers and Sentry's logging
integration see it like any other record. A custom ``logging.setLogRecordFactory()`` is
honoured (through ``makeRecord``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
import time
from typing import Any

__all__ = ["FAST_PATH_KEY", "emit_record", "report_internal_error"]

#: Record attribute marking where a layer's fields sit in ``record.__dict__`` (see formatter).
FAST_PATH_KEY = "_asgi_obs_fields"

_NS_CLOCK = sys.version_info >= (3, 13)  # LogRecord.created computed from time_ns()
_TASK_NAMES = sys.version_info >= (3, 12)  # LogRecord.taskName exists
_prototypes: dict[tuple[str, int], dict[str, Any]] = {}
_prototype_pid = os.getpid()


def report_internal_error(what: str, exc: BaseException) -> None:
    """Tell the operator on stderr that asgi_obs itself failed, without raising.

    Mirrors ``logging.Handler.handleError``: silent when ``logging.raiseExceptions`` is off.
    """
    if not logging.raiseExceptions:
        return
    try:
        sys.stderr.write(f"asgi_obs: {what} failed: {type(exc).__name__}: {exc}\n")
    except Exception:  # noqa: BLE001 - stderr itself is broken: nowhere left to report
        return


def _prototype(name: str, level: int) -> dict[str, Any]:
    global _prototype_pid
    pid = os.getpid()
    if pid != _prototype_pid:  # forked: process id and name changed
        _prototypes.clear()
        _prototype_pid = pid
    key = (name, level)
    proto = _prototypes.get(key)
    if proto is None:
        proto = dict(vars(logging.LogRecord(name, level, __file__, 0, "", (), None, "asgi_obs")))
        _prototypes[key] = proto
    return proto


def _new_record(name: str, level: int, message: str, exc: BaseException | None) -> logging.LogRecord:
    record = logging.LogRecord.__new__(logging.LogRecord)
    attrs = record.__dict__
    attrs.update(_prototype(name, level))
    attrs["msg"] = message
    if exc is not None:
        attrs["exc_info"] = (type(exc), exc, exc.__traceback__)
    # The per-record attributes, computed as LogRecord.__init__ does on this Python version.
    if _NS_CLOCK:
        now_ns = time.time_ns()
        attrs["created"] = now_ns / 1e9
        attrs["msecs"] = (now_ns % 1_000_000_000) // 1_000_000 + 0.0
        attrs["relativeCreated"] = (now_ns - logging._startTime) / 1e6  # type: ignore[attr-defined]
    else:
        now = time.time()
        attrs["created"] = now
        attrs["msecs"] = int((now - int(now)) * 1000) + 0.0
        attrs["relativeCreated"] = (now - logging._startTime) * 1000  # type: ignore[attr-defined]
    if logging.logThreads:
        attrs["thread"] = threading.get_ident()
        attrs["threadName"] = threading.current_thread().name
    if _TASK_NAMES and getattr(logging, "logAsyncioTasks", False):
        try:
            task = asyncio.current_task()
        except RuntimeError:
            task = None
        attrs["taskName"] = task.get_name() if task is not None else None
    return record


def emit_record(
    logger: logging.Logger,
    level: int,
    message: str,
    fields: dict[str, Any],
    exc_info: BaseException | None = None,
) -> None:
    """Hand one record carrying ``fields`` as attributes to ``logger``; never raises.

    The message is final (no ``%`` arguments), so a ``%`` in a path cannot break it. The caller
    checks ``logger.isEnabledFor(level)`` first, before building ``fields``.
    """
    try:
        if logging.getLogRecordFactory() is logging.LogRecord:
            record = _new_record(logger.name, level, message, exc_info)
        else:
            exc_tuple = (type(exc_info), exc_info, exc_info.__traceback__) if exc_info is not None else None
            record = logger.makeRecord(logger.name, level, __file__, 0, message, (), exc_tuple)
        attrs = record.__dict__
        start = len(attrs)
        attrs.update(fields)
        if len(attrs) - start == len(fields):
            # Where the fields sit, and how long the dict is now: the formatter takes them in
            # one C-level step when no filter added anything but the ids (see formatter.py).
            attrs[FAST_PATH_KEY] = (start, len(attrs), len(attrs) + 1)
        logger.handle(record)
    except Exception as exc:  # noqa: BLE001 - a broken handler or filter must not fail the request
        report_internal_error(f"writing a {logger.name} record", exc)
