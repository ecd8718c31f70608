"""Sentry endpoints for ``sentry_outage.py`` in their own process: ``ok``, ``error`` (500), ``hang``.

Prints one JSON line ``{"ok": port, "error": port, "hang": port}``, serves until stdin closes,
then releases the hanging connections and prints ``{"ok": events, ...}`` (events received).
Kept out of the benchmark's process so the sinks' threads do not slow the client that times.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from contextlib import ExitStack

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tests.sentry_support import EnvelopeSink


def main() -> None:
    release = threading.Event()
    sinks = {mode: EnvelopeSink(mode, release=release) for mode in ("ok", "error", "hang")}
    with ExitStack() as stack:
        for sink in sinks.values():
            stack.enter_context(sink.running())
        print(json.dumps({mode: sink.port for mode, sink in sinks.items()}), flush=True)
        sys.stdin.read()  # until the benchmark closes our stdin
        release.set()
        counts = {mode: len(sink.events) for mode, sink in sinks.items()}
        counts.update({f"{mode}_posts": sink.requests for mode, sink in sinks.items()})
        print(json.dumps(counts), flush=True)


if __name__ == "__main__":
    main()
