"""Writing a record built by a layer: cheaply, and such that a logging failure never breaks a request.

The access record is written on every request, so it skips what a ``logger.info()`` call pays
for and does not need: ``findCaller``'s stack walk, ``makeRecord``'s checks of ``extra``, and
the per-record recomputation of what never changes within a process (file and module names,
process name). The result is a genuine :class:`logging.LogRecord` (a subclass) with every
standard attribute, handed to the logger's handlers: users' filters, handlers and Sentry's
logging integration see it like any other record. A custom ``logging.setLogRecordFactory()``
is honoured (through ``makeRecord``; the formatter's fast path is then not used).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
import time
from typing import Any

from .context import state_var

__all__ = [
    "FAST_PATH_KEY",
    "KIND_KEY",
    "LayerRecord",
    "emit_record",
    "level_name",
    "record_kind",
    "report_internal_error",
]

#: Record attribute holding ``(fields, length)`` for the formatter's fast path (see there).
FAST_PATH_KEY = "_asgi_obs_fields"
#: Record attribute saying which layer wrote it (``"access"``, ``"error"``): filters and the
#: Sentry glue recognise the layers' records by it, whatever logger name the user configured.
#: (Underscored: never written to the output.)
KIND_KEY = "_asgi_obs_kind"


def record_kind(record: logging.LogRecord) -> str | None:
    """``"access"`` or ``"error"`` for a record an asgi_obs layer wrote, else ``None``."""
    kind: str | None = record.__dict__.get(KIND_KEY)
    return kind


_NS_CLOCK = sys.version_info >= (3, 13)  # LogRecord.created computed from time_ns()
_TASK_NAMES = sys.version_info >= (3, 12)  # LogRecord.taskName exists
_prototypes: dict[tuple[str, int], dict[str, Any]] = {}
_thread_names: dict[int, str] = {}


class LayerRecord(logging.LogRecord):
    """A ``LogRecord`` written by an asgi_obs layer.

    It carries its fields twice: as attributes, like any record, and as one dict under
    :data:`FAST_PATH_KEY`, which the formatter serialises in one step. Assigning or deleting
    any attribute (a filter redacting ``record.path``, ``QueueHandler.prepare()``) drops that
    dict, so the formatter then reads the attributes: what is written is always their value.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        self.__dict__.pop(FAST_PATH_KEY, None)
        super().__setattr__(name, value)

    def __delattr__(self, name: str) -> None:
        self.__dict__.pop(FAST_PATH_KEY, None)
        super().__delattr__(name)


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
    proto = dict(vars(logging.LogRecord(name, level, __file__, 0, "", (), None, "asgi_obs")))
    _prototypes[name, level] = proto
    return proto


def level_name(name: str, level: int) -> str:
    """The ``levelname`` a record of logger ``name`` at ``level`` gets here (direct emission)."""
    proto = _prototypes.get((name, level)) or _prototype(name, level)
    levelname: str = proto["levelname"]
    return levelname


def _forget_process() -> None:
    # In a forked child the process id, and perhaps its name, changed: rebuild the prototypes.
    _prototypes.clear()
    _thread_names.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_process)


def _thread_name(ident: int) -> str:
    # threading.current_thread().name costs two Python-level calls per record; names are
    # cached per thread id (a thread renamed after its first record keeps its first name).
    name = threading.current_thread().name
    if len(_thread_names) > 1024:  # threads come and go: keep the cache bounded
        _thread_names.clear()
    _thread_names[ident] = name
    return name


def _new_record(name: str, level: int, message: str, exc: BaseException | None) -> LayerRecord:
    """Build a record with the attributes ``LogRecord.__init__`` gives on this Python version."""
    record = LayerRecord.__new__(LayerRecord)
    attrs = record.__dict__
    proto = _prototypes.get((name, level)) or _prototype(name, level)
    attrs.update(proto)
    # The clock read once, in integers: cheaper than LogRecord's float arithmetic, same meaning.
    now_ns = time.time_ns()
    created = now_ns / 1e9
    msecs = (now_ns % 1_000_000_000) // 1_000_000 + 0.0
    if _NS_CLOCK:  # logging._startTime is time_ns() on 3.13+, time.time() before
        relative = (now_ns - logging._startTime) / 1e6  # type: ignore[attr-defined]
    else:
        relative = (created - logging._startTime) * 1000  # type: ignore[attr-defined]
    attrs["msg"] = message
    attrs["created"] = created
    attrs["msecs"] = msecs
    attrs["relativeCreated"] = relative
    if exc is not None:
        attrs["exc_info"] = (type(exc), exc, exc.__traceback__)
    if logging.logThreads:
        ident = threading.get_ident()
        attrs["thread"] = ident
        attrs["threadName"] = _thread_names.get(ident) or _thread_name(ident)
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
    *,
    kind: str,
) -> None:
    """Hand one record carrying ``fields`` as attributes to ``logger``'s handlers; never raises.

    The message is final (no ``%`` arguments), so a ``%`` in a path cannot break it. The caller
    checks ``logger.isEnabledFor(level)`` first, before building ``fields``. ``kind`` marks the
    record as the access or error layer's (see :data:`KIND_KEY`).
    """
    try:
        if logging.getLogRecordFactory() is not logging.LogRecord:
            exc_tuple = (type(exc_info), exc_info, exc_info.__traceback__) if exc_info is not None else None
            record: logging.LogRecord = logger.makeRecord(
                logger.name, level, __file__, 0, message, (), exc_tuple
            )
            record.__dict__.update(fields)
            record.__dict__[KIND_KEY] = kind
        else:
            record = _new_record(logger.name, level, message, exc_info)
            attrs = record.__dict__
            attrs[KIND_KEY] = kind
            start = len(attrs)
            attrs.update(fields)
            if len(attrs) - start == len(fields):  # no field shadows a standard attribute
                attrs[FAST_PATH_KEY] = (fields, len(attrs) + 1)
        # The ids go on the record now, from the request the layer is handling: a handler that
        # runs later or elsewhere (QueueHandler + QueueListener) still writes the right ones.
        state = state_var.get()
        if state is not None:
            attrs = record.__dict__
            attrs["request_id"] = state.request_id
            attrs["trace_id"] = state.trace_id
        # Logger.handle(), minus a Filterer.filter() call when the logger has no filters.
        if logger.disabled:
            return
        if logger.filters:
            result: Any = logger.filter(record)
            if not result:
                return
            if isinstance(result, logging.LogRecord):  # Python 3.12+: a filter may swap it
                record = result
        logger.callHandlers(record)
    except Exception as exc:  # noqa: BLE001 - a broken handler or filter must not fail the request
        report_internal_error(f"writing a {logger.name} record", exc)
