"""A real uvicorn whose stdout pipe the test reads itself: at full speed, lagging, or not at all."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class PipeReader:
    """Reads the server's stdout in a thread; ``lag`` seconds of sleep after each small read."""

    def __init__(self, fd: int, *, lag: float = 0.0, paused: bool = False) -> None:
        self._fd = fd
        self._lag = lag
        self._running = threading.Event()
        if not paused:
            self._running.set()
        self.data = bytearray()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        size = 8192 if self._lag else 1 << 16
        while True:
            self._running.wait()
            chunk = os.read(self._fd, size)
            if not chunk:
                return
            self.data += chunk
            if self._lag:
                time.sleep(self._lag)

    def resume(self) -> None:
        self._running.set()

    def join(self) -> None:
        self._running.set()
        self._thread.join(timeout=60)

    def lines(self) -> list[bytes]:
        return bytes(self.data).split(b"\n")[:-1]


@contextlib.contextmanager
def uvicorn(
    port: int,
    *,
    workers: int = 1,
    env: dict[str, str] | None = None,
    lag: float = 0.0,
    paused: bool = False,
    app: str = "tests.reliability.app:app",
) -> Iterator[PipeReader]:
    """Serve ``app`` (default: tests.reliability.app) on 127.0.0.1:port; stop by PID; yield stdout."""
    argv = [sys.executable, "-m", "uvicorn", app, "--port", str(port)]
    argv += ["--host", "127.0.0.1", "--lifespan", "off", "--no-access-log", "--workers", str(workers)]
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("LOG_", "SENTRY_"))}
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env={**full_env, **(env or {})}, cwd=ROOT
    )
    assert proc.stdout is not None
    reader = PipeReader(proc.stdout.fileno(), lag=lag, paused=paused)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            time.sleep(0.05)
        else:
            raise AssertionError("uvicorn did not start")
        yield reader
    finally:
        reader.resume()
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        reader.join()
        proc.stdout.close()


def get(port: int, path: str, timeout: float = 20.0) -> int:
    """One GET on a new connection (so requests spread over the workers); the status."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()
