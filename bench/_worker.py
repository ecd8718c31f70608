"""One configuration in its own process, timed on command: the other end of ``overhead.py``.

Usage (by the harness, not by hand)::

    python bench/_worker.py CONFIG LOG_PATH --warmup N [--incoming-id]

Builds the configuration, verifies it (:func:`_harness.verify`), warms it up, then answers one
JSON line per command read from stdin (``{"op": "seq", "n": N}``,
``{"op": "conc", "batches": B, "size": S}``, ``{"op": "quit"}``; ``"chunks": K`` splits a
run into K timed parts) with the median part's µs per request.
After every timed run it counts the lines the run wrote to the file (they must be exactly
``access_lines`` per request, or the run is refused) and empties the file.

Replies go to a private copy of the original stdout; anything else printing to stdout
(a library, a warning) lands on stderr instead and cannot corrupt the protocol.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import sys
import traceback
from typing import IO, Any
from uuid import uuid4

import _harness
import configs


def _reply(out: IO[str], **message: Any) -> None:
    out.write(json.dumps(message) + "\n")
    out.flush()


def _split(total: int, chunks: int) -> list[int]:
    """``total`` as ``chunks`` near-equal positive parts."""
    chunks = max(1, min(chunks, total))
    return [total // chunks + (1 if i < total % chunks else 0) for i in range(chunks)]


def _timed(loop: asyncio.AbstractEventLoop, app: configs.ASGIApp, command: dict[str, Any], ids: Any) -> float:
    """Run the command in ``chunks`` timed parts; return the median part's µs per request.

    The median part, not the total: a hiccup of the machine (another process taking the CPU for
    a few ms) spoils one part, not the repetition.
    """
    gc.collect()
    per_request = []
    if command["op"] == "seq":
        for n in _split(command["n"], command.get("chunks", 1)):
            ns = loop.run_until_complete(_harness.run_sequential(app, n, ids))
            per_request.append(ns / n / 1000)
    else:
        size = command["size"]
        for batches in _split(command["batches"], command.get("chunks", 1)):
            ns = loop.run_until_complete(_harness.run_concurrent(app, batches, size, ids))
            per_request.append(ns / (batches * size) / 1000)
    return statistics.median(per_request)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("config")
    parser.add_argument("log_path")
    parser.add_argument("--warmup", type=int, default=2000)
    parser.add_argument("--incoming-id", action="store_true")
    args = parser.parse_args()
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)

    config = configs.CONFIGS[args.config]
    missing = config.missing()
    if missing:
        _reply(
            out, ok=False, why=f"not installed: {', '.join(missing)} (pip install -r bench/requirements.txt)"
        )
        return 1
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        app = config.build(args.log_path)
        loop.run_until_complete(_harness.verify(app, config, args.log_path))
    except _harness.Refused as exc:
        _reply(out, ok=False, why=f"verification failed: {exc}")
        return 1
    except Exception:  # noqa: BLE001 - reported to the parent, which refuses the row
        _reply(out, ok=False, why="failed to build or run:\n" + traceback.format_exc())
        return 1
    ids = [uuid4().hex for _ in range(1000)] if args.incoming_id else None
    warmup = max(args.warmup, 100)
    _timed(loop, app, {"op": "seq", "n": warmup}, ids)
    _timed(loop, app, {"op": "conc", "batches": max(warmup // 100, 1), "size": 100}, ids)
    os.truncate(args.log_path, 0)
    _reply(out, ok=True)

    for line in sys.stdin:
        command = json.loads(line)
        if command["op"] == "quit":
            break
        us = _timed(loop, app, command, ids)
        requests = command.get("n") or command["batches"] * command["size"]
        written = _harness.count_lines(args.log_path)
        os.truncate(args.log_path, 0)
        expected = config.access_lines * requests
        if written != expected:
            _reply(out, ok=False, why=f"timed run wrote {written} lines for {requests} requests")
            return 1
        _reply(out, ok=True, us=us, requests=requests)
    loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
