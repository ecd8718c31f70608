"""A Sentry ingestion endpoint on 127.0.0.1 for the demo: it keeps the events it is sent.

Point ``SENTRY_DSN`` at :attr:`EnvelopeSink.dsn` and the real sentry-sdk, in the real app
process, delivers its envelopes here (``POST /api/<project>/envelope/``, gzip-compressed, or
brotli when the ``brotli`` module is installed) instead of to sentry.io. Standard library only,
plus ``sentry_sdk`` to parse the envelopes.
"""

from __future__ import annotations

import gzip
import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sentry_sdk.envelope import Envelope

__all__ = ["EnvelopeSink"]


def _decode(body: bytes, encoding: str | None) -> bytes:
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "br":  # sentry-sdk only uses brotli when the module is importable
        import brotli  # type: ignore[import-not-found]

        return bytes(brotli.decompress(body))
    return body


class EnvelopeSink:
    """Collects the error events posted to it, in arrival order (see :meth:`received`)."""

    def __init__(self) -> None:
        self._events: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        sink = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = _decode(self.rfile.read(length), self.headers.get("Content-Encoding"))
                found = self.path.startswith("/api/") and self.path.endswith("/envelope/")
                if found:
                    events = [item.get_event() for item in Envelope.deserialize(body).items]
                    with sink._lock:
                        sink._events.extend(dict(event) for event in events if event is not None)
                self.send_response(200 if found else 404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return  # the demo prints its own summary; no request lines on stderr

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        port = self._server.server_address[1]
        self.dsn = f"http://public@127.0.0.1:{port}/1"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @contextmanager
    def running(self) -> Iterator[EnvelopeSink]:
        """Serve in a background thread for the duration of the ``with`` block."""
        self._thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)

    def received(self) -> list[dict[str, Any]]:
        """A snapshot of the events received so far."""
        with self._lock:
            return list(self._events)
