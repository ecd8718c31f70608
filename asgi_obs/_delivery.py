"""Line delivery: each record reaches its stream whole, in one ``write()``, from any process.

A stream with a real file descriptor gets each line with ``os.write`` (looping only on a partial
write), after flushing what ``print()`` left in the text buffer, so ordering holds. A pipe or a
socket shared by several processes (uvicorn ``--workers``, gunicorn ``-w``) is written under an
advisory lock (``flock``) on a lock file keyed by the pipe's ``(st_dev, st_ino)``: POSIX makes only
writes up to ``PIPE_BUF`` atomic, and a sibling's small unlocked write can land between the
pieces of a large line the kernel writes in parts, so *every* write to it takes the lock. Regular
files and terminals need no lock. A stream without a descriptor (``StringIO``) keeps
``stream.write``.

When the output breaks (the reader exited, the descriptor was closed), one line on stderr names
the problem; later lines are counted (:attr:`Sink.lost`), and the count is reported on close.
"""

from __future__ import annotations

import os
import select
import stat
import sys
import tempfile
import weakref
from types import ModuleType
from typing import IO, Any

try:
    import fcntl as _fcntl
except ImportError:  # pragma: no cover - Windows: no flock, lines written unlocked
    fcntl: ModuleType | None = None
else:
    fcntl = _fcntl

__all__ = ["PIPE_BUF", "Sink", "after_fork", "make_sink", "tell"]

PIPE_BUF: int = getattr(select, "PIPE_BUF", 512)

# Objects whose per-process resources (lock descriptors, writer threads) a forked child must not
# share with its parent; weak, so a dropped handler is forgotten.
_FORK_AWARE: weakref.WeakSet[Any] = weakref.WeakSet()


def after_fork(obj: Any) -> None:
    """Call ``obj._after_fork()`` in every child forked from now on (gunicorn's workers ...)."""
    _FORK_AWARE.add(obj)


def _reset_in_child() -> None:
    for obj in list(_FORK_AWARE):
        obj._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_in_child)


def tell(message: str) -> None:
    """One line on stderr about asgi_obs' own output; never raises (stderr may be broken too)."""
    try:
        stream = sys.stderr
        if stream is not None:
            stream.write(f"asgi_obs: {message}\n")
            stream.flush()
    except Exception:  # noqa: BLE001, S110 - nowhere left to report
        pass


class _PipeLock:
    """An exclusive ``flock`` shared by every process writing to one pipe or socket.

    The lock file is opened per process: a forked child re-opens it (``flock`` locks belong to
    the open file description, which a child shares with its parent, so an inherited descriptor
    would not exclude siblings).
    """

    def __init__(self, dev: int, ino: int) -> None:
        uid = os.geteuid()
        self.path = os.path.join(tempfile.gettempdir(), f"asgi_obs-{uid}-pipe-{dev:x}-{ino:x}.lock")
        self._fd = -1
        self._off = False
        after_fork(self)

    def _open(self) -> int:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            if fd <= 2:
                # A standard descriptor was closed: never take its number, or a later write to
                # "stdout" would land in the lock file.
                low, fd = fd, fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3)  # type: ignore[union-attr]
                os.close(low)
            info = os.fstat(fd)
            if info.st_uid != os.geteuid() or not stat.S_ISREG(info.st_mode):
                os.close(fd)  # someone else's file: never lock on what another user controls
                raise PermissionError(f"{self.path} is not a regular file owned by this user")
        except OSError as exc:
            self._off = True
            tell(f"cannot use lock file {self.path} ({exc}); lines over {PIPE_BUF} bytes may interleave")
            return -1
        self._fd = fd
        return fd

    def acquire(self) -> bool:
        fd = self._fd
        if fd < 0:
            if self._off:
                return False
            fd = self._open()
            if fd < 0:
                return False
        fcntl.flock(fd, fcntl.LOCK_EX)  # type: ignore[union-attr]  # only built when fcntl exists
        return True

    def release(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)  # type: ignore[union-attr]

    def _after_fork(self) -> None:
        if self._fd >= 0:
            # Closing the child's copy does not release a lock the parent holds right now.
            os.close(self._fd)
            self._fd = -1

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _wait_writable(fd: int) -> None:
    # The descriptor is non-blocking (a parent process set O_NONBLOCK on a shared pipe).
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    poller.poll()


def _write_rest(fd: int, data: bytes, written: int) -> None:
    # After a partial write (a signal, a non-blocking pipe with less room than the line).
    view = memoryview(data)
    while written < len(data):
        try:
            written += os.write(fd, view[written:])
        except BlockingIOError:
            _wait_writable(fd)


class Sink:
    """Writes lines to a stream without a descriptor: ``stream.write`` then ``flush``.

    Base of the descriptor sink; both count the lines lost once the output broke.
    """

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        #: Lines not written because the output broke.
        self.lost = 0
        self._problem: str | None = None

    @property
    def name(self) -> str:
        return str(getattr(self.stream, "name", None) or type(self.stream).__name__)

    def write(self, text: str) -> None:
        """Write ``text`` and a newline; on a broken output count the line instead."""
        if self._problem is not None:
            self.lost += 1
            return
        try:
            self.stream.write(text + "\n")
            self.stream.flush()
        except (OSError, ValueError) as exc:  # ValueError: the stream was closed
            self._broken(exc)

    def write_bytes(self, line: bytes) -> None:
        """Write one line already encoded as UTF-8, its newline included (the direct path)."""
        self.write(line[:-1].decode())

    def _broken(self, exc: Exception) -> None:
        self.lost += 1
        self._problem = f"{type(exc).__name__}: {exc}"
        tell(f"log output to {self.name} failed ({self._problem}); further lines are counted, not written")

    def flush(self) -> None:
        if self._problem is None:
            try:
                self.stream.flush()
            except (OSError, ValueError) as exc:
                self._problem = f"{type(exc).__name__}: {exc}"

    def close(self) -> None:
        """Report the lost lines, if any, on stderr."""
        if self.lost:
            tell(f"{self.lost} log lines were not written to {self.name} ({self._problem})")
            self.lost = 0


class _FdSink(Sink):
    """Each line in one ``os.write`` on the stream's descriptor, under the pipe lock if shared."""

    def __init__(self, stream: IO[str], fd: int, lock: _PipeLock | None) -> None:
        super().__init__(stream)
        self._fd = fd
        self._lock = lock

    def write(self, text: str) -> None:
        self.write_bytes((text + "\n").encode("utf-8", "backslashreplace"))

    def write_bytes(self, data: bytes) -> None:
        if self._problem is not None:
            self.lost += 1
            return
        lock = self._lock
        try:
            held = False
            if lock is not None:
                try:
                    held = lock.acquire()
                except OSError:  # no locks on this file system (ENOLCK ...): written unlocked
                    held = False
            try:
                # Inside the lock: what print() buffered is one more write to the shared pipe.
                # A non-blocking stdout that is full: print()'s buffer goes with a later flush.
                # (Not contextlib.suppress: this runs for every line.)
                try:  # noqa: SIM105
                    self.stream.flush()
                except BlockingIOError:
                    pass
                try:
                    written = os.write(self._fd, data)
                except BlockingIOError:
                    written = 0
                if written != len(data):
                    _write_rest(self._fd, data, written)
            finally:
                if held:
                    lock.release()  # type: ignore[union-attr]
        except (OSError, ValueError) as exc:  # EPIPE, EBADF, a closed stream ...
            self._broken(exc)

    def close(self) -> None:
        super().close()
        if self._lock is not None:
            self._lock.close()


def make_sink(stream: IO[str]) -> Sink:
    """The sink for ``stream``: by descriptor when it has one, else through ``stream.write``."""
    try:
        fd = stream.fileno()
        info = os.fstat(fd)
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is both
        return Sink(stream)
    shared = fcntl is not None and (stat.S_ISFIFO(info.st_mode) or stat.S_ISSOCK(info.st_mode))
    return _FdSink(stream, fd, _PipeLock(info.st_dev, info.st_ino) if shared else None)
