"""Real servers for the tests that are about server behaviour, each in a subprocess.

The process listens on 127.0.0.1 only, its stdout and stderr are collected line by line, and
it is always stopped by its PID (SIGTERM, then SIGKILL) when the ``with`` block ends. The
clients below (:func:`get`, :func:`websocket_echo`) talk to it over loopback only.

``tests/servers/test_matrix.py`` runs every server the README lists against the apps of
``tests/servers/app.py``.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

#: The repository root: servers run from there, so ``tests.servers.app`` imports.
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    def __init__(self, proc: subprocess.Popen[str], port: int) -> None:
        self.proc = proc
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._threads = [
            threading.Thread(target=self._pump, args=(proc.stdout, self.stdout), daemon=True),
            threading.Thread(target=self._pump, args=(proc.stderr, self.stderr), daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    @staticmethod
    def _pump(stream: Any, sink: list[str]) -> None:
        for line in stream:
            sink.append(line.rstrip("\n"))

    def json_lines(self) -> list[dict[str, Any]]:
        """Every stdout line parsed as JSON (a line that is not JSON fails the test)."""
        return [json.loads(line) for line in self.stdout if line.strip()]

    def wait_for(self, predicate: Any, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(predicate(line) for line in list(self.stdout)):
                return
            time.sleep(0.02)
        raise AssertionError(f"timed out; stdout={self.stdout!r} stderr={self.stderr!r}")

    def wait_for_count(self, predicate: Any, count: int, timeout: float = 10.0) -> None:
        """Wait until ``count`` stdout lines match ``predicate`` (records written late, at exit ...)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if sum(1 for line in list(self.stdout) if predicate(line)) >= count:
                return
            time.sleep(0.02)
        raise AssertionError(f"timed out; stdout={self.stdout!r} stderr={self.stderr!r}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        for thread in self._threads:
            thread.join(timeout=5)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


def _wait_listening(server: Server, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            break
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", server.port), 0.2):
            return
        time.sleep(0.05)
    server.stop()
    raise AssertionError(f"server did not start: stdout={server.stdout!r} stderr={server.stderr!r}")


@contextlib.contextmanager
def _run(argv: list[str], port: int, env: dict[str, str] | None) -> Iterator[Server]:
    """Start ``python *argv`` serving on ``port``; stop it by PID when the block ends.

    SENTRY_DSN and LOG_LEVEL of the test process never leak in: only ``env`` sets them.
    """
    full_env = {**os.environ, "PORT": str(port), "PYTHONUNBUFFERED": "1", **(env or {})}
    for name in ("SENTRY_DSN", "LOG_LEVEL"):
        if env is None or name not in env:
            full_env.pop(name, None)
    proc = subprocess.Popen(
        [sys.executable, *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=full_env,
        cwd=ROOT,
    )
    server = Server(proc, port)
    try:
        _wait_listening(server)
        yield server
    finally:
        server.stop()


def run_python(code: str, *, port: int | None = None, env: dict[str, str] | None = None) -> Any:
    """Run ``code`` (which must serve on ``PORT`` from the environment) and stop it afterwards."""
    return _run(["-c", code], port or free_port(), env)


def run_module(args: list[str], *, port: int, env: dict[str, str] | None = None) -> Any:
    """Run ``python -m <args>`` serving on ``port`` and stop it afterwards."""
    return _run(["-m", *args], port, env)


@dataclass
class Response:
    """What a client saw of one HTTP response."""

    status: int
    request_ids: list[str]
    body: bytes
    #: The whole body arrived; ``False`` when the server cut the connection (or left it open
    #: past the client's timeout) mid-body.
    complete: bool
    #: How an incomplete body ended: ``"cut"`` (the server closed or reset the connection) or
    #: ``"timeout"`` (it left the connection open); ``None`` when complete.
    ended: str | None = None


def get(port: int, path: str, *, timeout: float = 5.0) -> Response:
    """GET ``path`` on a fresh connection; a truncated body is reported, not raised."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        ids = [value for name, value in response.getheaders() if name.lower() == "x-request-id"]
        body = b""
        try:
            while chunk := response.read1(65536):  # chunk by chunk: what arrived is kept
                body += chunk
        except TimeoutError:  # socket.timeout: the server left the connection open
            return Response(response.status, ids, body, complete=False, ended="timeout")
        except (http.client.IncompleteRead, OSError):  # aborted or reset
            return Response(response.status, ids, body, complete=False, ended="cut")
        return Response(response.status, ids, body, complete=True)
    finally:
        conn.close()


def websocket_echo(port: int, path: str, text: str = "hello") -> tuple[str, str | None]:
    """Open a WebSocket, send ``text``, return (the echo, the handshake's X-Request-ID or None)."""
    from websockets.sync.client import connect

    with connect(f"ws://127.0.0.1:{port}{path}", open_timeout=5, close_timeout=2) as ws:
        ws.send(text)
        echo = ws.recv(timeout=5)
        assert ws.response is not None
        request_id = ws.response.headers.get("x-request-id")
    return str(echo), request_id
