"""``enqueue=True``: lines handed to one writer thread, so a slow reader never blocks a caller.

The caller (the event loop, a request's thread) formats its record itself, so the ids are its
own, and appends the line to a bounded queue: it never waits for the stream. One daemon thread
writes the lines through the ordinary sink (one ``write()`` each, locked on a shared pipe). When
the queue is full, lines are dropped and counted; once the writer has written what was queued,
one WARNING line (built by ``report``) gives the exact count. The queue is drained by
:meth:`QueuedSink.close` — at interpreter exit (``logging.shutdown``) and when a second
``init_structured_logging()`` replaces the handler — so a clean exit loses nothing.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from ._delivery import Sink, after_fork, tell
from ._emit import report_internal_error

__all__ = ["DRAIN_SECONDS", "QUEUE_CHARS", "QueuedSink"]

#: Characters (about bytes) of lines queued at most: about 64 full 64 KiB lines, or ~20,000
#: access records.
QUEUE_CHARS = 4 * 1024 * 1024
#: How long close() waits for a writer blocked on a stalled reader before giving up.
DRAIN_SECONDS = 5.0


class QueuedSink:
    """The :class:`~asgi_obs._delivery.Sink` interface, written by a writer thread."""

    def __init__(
        self,
        inner: Sink,
        report: Callable[[int], str],
        *,
        max_chars: int = QUEUE_CHARS,
        drain_seconds: float = DRAIN_SECONDS,
    ) -> None:
        self.inner = inner
        self._report = report
        self._max = max_chars
        self._drain_seconds = drain_seconds
        self._closed = False
        self._reset()
        after_fork(self)

    def _reset(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._lines: deque[str] = deque()
        self._pending = 0  # characters queued or being written
        self._dropped = 0
        self._busy = False  # the writer holds lines it has not finished writing
        self._thread: threading.Thread | None = None

    @property
    def lost(self) -> int:
        return self.inner.lost

    def write(self, text: str) -> None:
        """Queue ``text`` for the writer; drop and count it when the queue is full."""
        size = len(text) + 1
        with self._cond:
            if self._closed:
                direct = True
            elif self._pending and self._pending + size > self._max:
                self._dropped += 1
                return
            else:
                self._lines.append(text)
                self._pending += size
                direct = self._thread is None and not self._start(size)
                self._cond.notify()
        if direct:  # closed, or no thread can be started (interpreter shutting down)
            self.inner.write(text)

    def write_bytes(self, line: bytes) -> None:
        """Queue one encoded line (its newline included), as :meth:`write` does."""
        self.write(line[:-1].decode())

    def _start(self, size: int) -> bool:
        thread = threading.Thread(target=self._run, name="asgi_obs-log-writer", daemon=True)
        try:
            thread.start()
        except RuntimeError:  # "can't create new thread at interpreter shutdown"
            self._lines.pop()
            self._pending -= size
            return False
        self._thread = thread
        return True

    def _run(self) -> None:
        cond = self._cond
        while True:
            with cond:
                while not self._lines:
                    self._busy = False
                    cond.notify_all()  # wake flush()
                    if self._closed:
                        return
                    cond.wait()
                batch = list(self._lines)
                self._lines.clear()
                self._busy = True
            size = 0
            for text in batch:
                try:
                    self.inner.write(text)
                except Exception as exc:  # noqa: BLE001 - the one writer thread must outlive any line
                    self.inner.lost += 1
                    report_internal_error("the log writer thread writing a line", exc)
                size += len(text) + 1
            with cond:
                self._pending -= size
                dropped, self._dropped = self._dropped, 0
            if dropped:  # caught up with the backlog that made the queue overflow
                self.inner.write(self._report(dropped))

    def flush(self) -> bool:
        """Wait until every queued line is written (at most ``drain_seconds``); True if so."""
        deadline = time.monotonic() + self._drain_seconds
        with self._cond:
            while (self._lines or self._busy) and self._thread is not None and self._thread.is_alive():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
        self.inner.flush()
        return True

    def close(self) -> None:
        """Drain the queue, stop the writer, report lines that could not be written."""
        drained = self.flush()
        with self._cond:
            self._closed = True
            left = len(self._lines) + self._dropped
            self._lines.clear()
            self._dropped = 0
            self._cond.notify_all()
        if left or not drained:
            tell(
                f"{left} queued log lines were not written to {self.inner.name} (the reader did not keep up)"
            )
        self.inner.close()

    def _after_fork(self) -> None:
        # The writer thread does not exist in a child, and the parent's lines are the parent's.
        self._reset()
