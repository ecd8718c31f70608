"""Sentry endpoints for ``sentry_outage.py`` in their own process: ``ok``, ``error`` (500), ``hang``.

Prints one JSON line ``{"ok": port, "error": port, "hang": port}``, serves until stdin closes,
then releases the hanging connections and prints ``{"ok": posts, ...}`` (envelopes received).
As cheap as an endpoint can be (the body is read, not decompressed or parsed) and at a low
CPU priority: on a small machine a real Sentry's work is on another host, so the sinks' should
not slow the server being measured (tests/sentry_support.py's ``EnvelopeSink`` parses every
envelope; the tests use it to check what arrives).
"""

from __future__ import annotations

import http.server
import json
import os
import sys
import threading
from typing import Any

RELEASE = threading.Event()
HOLD_SECONDS = 10.0  # a hanging sink answers after this (or when the benchmark ends)


def make_server(mode: str, counts: dict[str, int], lock: threading.Lock) -> http.server.ThreadingHTTPServer:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with lock:
                counts[mode] += 1
            if mode == "hang":
                RELEASE.wait(HOLD_SECONDS)
            self.send_response(500 if mode == "error" else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    return server


def main() -> None:
    os.nice(10)
    counts = {"ok": 0, "error": 0, "hang": 0}
    lock = threading.Lock()
    servers = {mode: make_server(mode, counts, lock) for mode in counts}
    for server in servers.values():
        threading.Thread(target=server.serve_forever, daemon=True).start()
    print(json.dumps({mode: server.server_address[1] for mode, server in servers.items()}), flush=True)
    sys.stdin.read()  # until the benchmark closes our stdin
    RELEASE.set()
    for server in servers.values():
        server.shutdown()
        server.server_close()
    with lock:
        print(json.dumps(counts), flush=True)


if __name__ == "__main__":
    main()
