"""Real sentry-sdk, captured: an in-memory transport, and a loopback HTTP envelope sink.

Pitfalls handled here (DESIGN §7): Dedupe is removed from the *client* when a test wants it
off (``disabled_integrations`` is ignored once an earlier init installed it); Sentry's httpx
integration is disabled (it would inject the test process's own trace into test requests);
framework apps must be built after ``init`` (callers do).
"""

from __future__ import annotations

import gzip
import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sentry_sdk
from sentry_sdk.envelope import Envelope
from sentry_sdk.integrations.httpx import HttpxIntegration
from sentry_sdk.transport import Transport


class MemoryTransport(Transport):
    """Keeps every event the client would send."""

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        self.events: list[dict[str, Any]] = []

    def capture_envelope(self, envelope: Envelope) -> None:
        for item in envelope.items:
            event = item.get_event()
            if event is not None:
                self.events.append(event)

    def flush(self, timeout: float, callback: Any = None) -> None:
        return None

    def kill(self) -> None:
        return None


def init(
    transport: Transport | None = None,
    *,
    dedupe: bool = True,
    dsn: str = "http://public@127.0.0.1:9/1",
    **options: Any,
) -> None:
    """``sentry_sdk.init`` the way a service would, minus what would falsify tests."""
    options.setdefault("traces_sample_rate", None)
    sentry_sdk.init(
        dsn=dsn,
        transport=transport,
        disabled_integrations=[HttpxIntegration()],
        **options,
    )
    client = sentry_sdk.get_client()
    if not dedupe:
        client.integrations.pop("dedupe", None)
        assert "dedupe" not in client.integrations
        from sentry_sdk.integrations.dedupe import DedupeIntegration

        assert client.get_integration(DedupeIntegration) is None


def close_http_transport() -> None:
    """Stop the current client's real HTTP transport and close its sockets.

    ``Client.close()`` would do it, but on sentry-sdk 2.12 a closed client leaves Starlette's
    patched exception handling broken for the rest of the process (DESIGN §7); and a replaced
    client's urllib3 pool otherwise leaks its sockets until garbage collection, where they
    surface as a ResourceWarning in whichever test runs then.
    """
    client = sentry_sdk.get_client()
    transport = getattr(client, "transport", None)
    if transport is None:
        return
    client.flush(timeout=2)
    transport.kill()
    pool = getattr(transport, "_pool", None)
    if pool is not None:
        pool.clear()


def disable() -> None:
    """Replace the client by an inactive one (no DSN): Sentry is 'installed, not initialised'."""
    sentry_sdk.init(dsn=None, disabled_integrations=[HttpxIntegration()])


class EnvelopeSink:
    """A Sentry ingestion endpoint on 127.0.0.1 that parses (gzip) envelopes.

    ``mode``: ``"ok"`` answers 200, ``"error"`` answers 500, ``"hang"`` holds every connection
    until ``release`` is set (at most 10 s). ``port`` 0 picks a free one.
    """

    def __init__(self, mode: str = "ok", release: threading.Event | None = None, port: int = 0) -> None:
        self.mode = mode
        self.release = release or threading.Event()
        self.events: list[dict[str, Any]] = []
        self.requests = 0
        self.hanging = 0  # handlers currently holding a connection open
        self._lock = threading.Lock()
        sink = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                with sink._lock:
                    sink.requests += 1
                    # /api/<project>/envelope/ from a DSN; /stream is where Spotlight posts.
                    if (self.path.startswith("/api/") and self.path.endswith("/envelope/")) or (
                        self.path == "/stream"
                    ):
                        for item in Envelope.deserialize(body).items:
                            event = item.get_event()
                            if event is not None:
                                sink.events.append(event)
                if sink.mode == "hang":
                    with sink._lock:
                        sink.hanging += 1
                    sink.release.wait(10)
                    with sink._lock:
                        sink.hanging -= 1
                status = 500 if sink.mode == "error" else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return  # keep the test output clean

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.dsn = f"http://public@127.0.0.1:{self.port}/1"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @contextmanager
    def running(self) -> Iterator[EnvelopeSink]:
        self._thread.start()
        try:
            yield self
        finally:
            self.server.shutdown()
            self.server.server_close()
            self._thread.join(timeout=5)
