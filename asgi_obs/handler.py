"""``JsonLineHandler``: the one handler :func:`~asgi_obs.init_structured_logging` installs.

Each record is formatted on the thread that logs it (so it carries that thread's request ids)
and written as one line in one ``write()`` (see :mod:`asgi_obs._delivery`), or, with
``enqueue=True``, handed to one writer thread (see :mod:`asgi_obs._enqueue`).
"""

from __future__ import annotations

import copy
import json
import logging
from typing import IO, Any

from ._delivery import Sink, make_sink
from ._emit import report_internal_error
from ._enqueue import QueuedSink
from .fields import OUTPUT_LOGGER
from .filters import ContextFilter, ServerDuplicateFilter, SuppressUnwantedLogsFilter
from .formatter import CustomJsonFormatter

__all__ = ["JsonLineHandler"]

_DEFAULT_FORMATTER = logging.Formatter()
# The filters a direct line honours exactly (exact types: a subclass may do anything).
_OWN_FILTERS = (ContextFilter, ServerDuplicateFilter, SuppressUnwantedLogsFilter)


class JsonLineHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A ``StreamHandler`` writing each record as one line, in one ``write()`` system call.

    Behaves as ``logging.StreamHandler`` (filters, ``setStream``, ``handleError`` for a
    formatter that raises) with less work per record: the handler lock is taken once. A stream
    with a file descriptor is written with ``os.write`` (a pipe shared by several processes
    under an advisory lock, so lines never interleave); a ``StringIO`` through its ``write``.
    With ``enqueue=True`` the line goes to a bounded queue read by one writer thread: the caller
    never waits for the stream, and lines that do not fit are dropped and counted (a WARNING
    on logger ``asgi_obs.output`` says how many). When the output breaks (EPIPE, a closed
    descriptor), one line on stderr names the problem and the lost lines are counted
    (:attr:`lost_lines`) instead of a traceback per record.
    """

    #: The :class:`SuppressUnwantedLogsFilter` among this handler's filters (set by make_handler).
    suppress_filter: SuppressUnwantedLogsFilter | None = None
    #: The filters and formatter :meth:`allow_direct` saw (``None``: no direct emission).
    _direct_setup: (
        tuple[list[Any], CustomJsonFormatter, ServerDuplicateFilter, SuppressUnwantedLogsFilter | None] | None
    ) = None

    def __init__(self, stream: IO[str] | None = None, *, enqueue: bool = False) -> None:
        super().__init__(stream)
        self.enqueue = enqueue
        self._sink_stream: IO[str] = self.stream
        self._sink: Sink | QueuedSink = self._make_sink()

    def _make_sink(self) -> Sink | QueuedSink:
        sink = make_sink(self.stream)
        return QueuedSink(sink, self._drop_report) if self.enqueue else sink

    @property
    def lost_lines(self) -> int:
        """Lines not written because the output broke (they are also reported on close)."""
        return self._sink.lost

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
            if self.stream is not self._sink_stream:  # setStream() or a plain assignment
                self._rebind()
            self._sink.write(text)  # never raises for a broken output: it counts instead
        except RecursionError:  # as logging does: never swallow a recursion
            raise
        except Exception:  # noqa: BLE001 - logging's own policy: report on stderr, carry on
            self.handleError(record)

    # -- direct emission (asgi_obs._direct) ------------------------------------------------------

    def allow_direct(self) -> None:
        """Let layers write their records straight to this handler while it stays as it is now.

        Called by ``make_handler`` once the handler has its filters and formatter: asgi_obs'
        own, which a direct line honours exactly (see :mod:`asgi_obs._direct`).
        """
        formatter = self.formatter
        duplicates = [f for f in self.filters if type(f) is ServerDuplicateFilter]
        suppressors = [f for f in self.filters if type(f) is SuppressUnwantedLogsFilter]
        own = all(type(f) in _OWN_FILTERS for f in self.filters)
        self._direct_setup = None
        if (
            isinstance(formatter, CustomJsonFormatter)
            and formatter.direct
            and own
            and len(duplicates) == 1
            and len(suppressors) <= 1
        ):
            suppress = suppressors[0] if suppressors else None
            self._direct_setup = (list(self.filters), formatter, duplicates[0], suppress)

    def drops(self, level: int, logger_name: str, outcome: str, path: str, message: str) -> bool:
        """What this handler's suppress filter would decide for an access record with these values.

        (The filter :meth:`allow_direct` saw among the filters, which ``asgi_obs._direct``
        checked are still the handler's.)
        """
        suppress = self._direct_setup[3] if self._direct_setup is not None else None
        if suppress is None:
            return False
        return suppress.drops_access(level, logger_name, outcome, path, message)

    def write_direct(self, data: dict[str, Any], created: float) -> None:
        """Write a layer's record from its final ``data`` (``timestamp`` filled in here).

        The same bytes the record would become through :meth:`handle`, with the formatter
        :meth:`allow_direct` saw (``asgi_obs._direct`` checked it is still this handler's);
        never raises.
        """
        lock = self.lock
        lock.acquire()  # type: ignore[union-attr]  # (not `with`: half the cost, every request)
        try:
            try:
                formatter = self._direct_setup[1]  # type: ignore[index]
                data["timestamp"] = formatter.iso_time(created)  # under the lock: its cache
                line = formatter.fast_line(data)
                if self.stream is not self._sink_stream:
                    self._rebind()
                if type(line) is bytes:
                    self._sink.write_bytes(line + b"\n")
                else:
                    self._sink.write(line)  # type: ignore[arg-type]
            except RecursionError:
                raise
            except Exception as exc:  # noqa: BLE001 - logging's own policy: report, carry on
                report_internal_error("writing a log line", exc)
        finally:
            lock.release()  # type: ignore[union-attr]

    def _rebind(self) -> None:
        old = self._sink
        self._sink_stream = self.stream
        self._sink = self._make_sink()
        old.close()

    def _drop_report(self, dropped: int) -> str:
        # Runs on the writer thread: a copy of the formatter, so no state is shared with callers.
        record = logging.LogRecord(
            OUTPUT_LOGGER,
            logging.WARNING,
            __file__,
            0,
            "%d log lines dropped: the output did not keep up (enqueue=True)",
            (dropped,),
            None,
        )
        record.dropped_lines = dropped
        try:
            return str(copy.copy(self.formatter or _DEFAULT_FORMATTER).format(record))
        except Exception:  # noqa: BLE001 - the count must reach the output whatever the formatter
            return json.dumps({"level": "WARNING", "logger": OUTPUT_LOGGER, "dropped_lines": dropped})

    def flush(self) -> None:
        """Write what is buffered; with ``enqueue=True``, wait (boundedly) for the queue to drain."""
        with self.lock:  # type: ignore[union-attr]
            self._sink.flush()

    def close(self) -> None:
        """Drain the queue, report lost lines on stderr, then close as ``StreamHandler`` does."""
        with self.lock:  # type: ignore[union-attr]
            self._sink.close()
        super().close()
