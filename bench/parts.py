"""Where a request's instructions go: the parts of the stack measured alone under cachegrind.

Usage (from the repository root; needs ``valgrind``)::

    python bench/parts.py                    # every part, ~3 min
    python bench/parts.py --parts contextvars,encode

Each part runs in its own process under cachegrind twice (``--low`` and ``--high``
iterations); the difference divided by the extra iterations is its instruction count per
request, loop included (an empty loop is ~200). The parts overlap a little (``access_record``
contains ``direct_check``, ``encode`` and ``timestamp``); the whole stack's count is
``instructions.py``'s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import logging
import os
import sys
import tempfile
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))

PARTS = {
    "empty_loop": "the measuring loop itself",
    "contextvars": "three ContextVars set, then reset with their tokens, inside a task",
    "request_state": "the context part's header scan, ids and RequestState",
    "ids": "one (request id, trace id) pair",
    "tracker": "one ResponseTracker",
    "access_record": "the access record, built and written directly",
    "access_build": "the access record built, its write left out",
    "direct_check": "the per-record check that the direct path is still allowed",
    "write_line": "the line's dict encoded and written (handler lock, timestamp, orjson, os.write)",
    "encode": "orjson.dumps of the line's dict",
    "timestamp": "the timestamp text",
}

_LINE = {
    "timestamp": "2026-12-01T14:24:55.251813+00:00",
    "level": "INFO",
    "logger": "asgi_obs.access",
    "message": "GET /hello 200",
    "request_id": "7d6ac3226b0d4f1a8a4bde0b8a8e9e1c",
    "trace_id": "0af7651916cd43dd8448eb211c80319c",
    "method": "GET",
    "path": "/hello",
    "route": "/hello",
    "status": 200,
    "duration_ms": 0.123,
    "request_bytes": 0,
    "response_bytes": 5,
    "client_ip": "127.0.0.1",
    "user_agent": "bench/1.0",
    "http_version": "1.1",
    "outcome": "success",
}


def _run(part: str, n: int) -> None:
    sys.path.insert(0, HERE)
    import _harness
    import configs

    import asgi_obs
    from asgi_obs._response import ResponseTracker
    from asgi_obs.classify import by_status
    from asgi_obs.ids import new_ids

    folder = tempfile.mkdtemp()
    asgi_obs.init_structured_logging("INFO", stream=open(os.path.join(folder, "log.jsonl"), "a"))  # noqa: SIM115
    stack: Any = asgi_obs.build_stack(configs.raw_app)
    scope = _harness.new_scope()
    tracker = ResponseTracker(scope, _harness.receive, _harness.send_nothing)
    tracker.status = 200
    verdict = by_status(200)
    access, context = stack.access, stack.context
    handler: Any = access._route.handler(logging.INFO)
    if part == "empty_loop":
        for _ in range(n):
            pass
    elif part == "contextvars":
        a, b, c = (contextvars.ContextVar(name) for name in "abc")

        async def sets() -> None:
            a.set("request"), b.set("trace"), c.set("state")
            for _ in range(n):
                tokens = (a.set(None), b.set(None), c.set(None))
                c.reset(tokens[2]), b.reset(tokens[1]), a.reset(tokens[0])

        asyncio.run(sets())
    elif part == "request_state":
        for _ in range(n):
            context._state_for(scope, tracker)
    elif part == "ids":
        for _ in range(n):
            new_ids()
    elif part == "tracker":
        for _ in range(n):
            ResponseTracker(scope, _harness.receive, _harness.send_nothing)
    elif part == "access_record":
        for _ in range(n):
            access._write(tracker, verdict)
    elif part == "access_build":
        type(handler).write_direct = lambda self, data, created: None
        for _ in range(n):
            access._write(tracker, verdict)
    elif part == "direct_check":
        for _ in range(n):
            access._route.handler(logging.INFO)
    elif part == "write_line":
        for _ in range(n):
            handler.write_direct(dict(_LINE), 1764599095.251813)
    elif part == "encode":
        import orjson

        for _ in range(n):
            orjson.dumps(_LINE)
    elif part == "timestamp":
        formatter = handler._direct_setup[1]
        for _ in range(n):
            formatter.iso_time(1764599095.251813)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--parts", default=",".join(PARTS))
    parser.add_argument("--low", type=int, default=2000)
    parser.add_argument("--high", type=int, default=12000)
    parser.add_argument("--one", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        _run(args.one[0], int(args.one[1]))
        return 0
    sys.path.insert(0, HERE)
    from instructions import count, valgrind_missing

    if valgrind_missing():
        return 1
    print("instructions per iteration (loop included), each part alone:")
    for part in args.parts.split(","):
        low = count(__file__, "--one", part, str(args.low))
        high = count(__file__, "--one", part, str(args.high))
        per = (high - low) // (args.high - args.low)
        print(f"  {part:15s} {per:>8,d}  {PARTS[part]}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
