"""The app the reliability tests serve: large records through the real init_structured_logging().

``GET /work?seq=N&size=B&kind=big|trace|small`` logs one record on logger ``reliability`` whose
``payload`` is the tag ``<pid-seq>`` repeated to about ``B`` characters (``trace`` adds a long
traceback), so a reader can tell whether a line holds another record's bytes. ``/health``
answers at once. Run with ``--lifespan off``.
"""

from __future__ import annotations

import logging
import os
from typing import Any
from urllib.parse import parse_qs

from asgi_obs import build_stack, init_structured_logging

init_structured_logging()  # LOG_ENQUEUE from the environment
log = logging.getLogger("reliability")
PID = os.getpid()


def _fail(depth: int) -> None:
    if depth == 0:
        raise RuntimeError("deep failure")
    _fail_again(depth - 1)


def _fail_again(depth: int) -> None:  # alternating frames: the traceback is not folded
    _fail(depth)


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["path"] == "/work":
        query = {k: v[0] for k, v in parse_qs(scope["query_string"].decode()).items()}
        seq, size, kind = int(query["seq"]), int(query.get("size", "100")), query.get("kind", "small")
        tag = f"<{PID}-{seq}>"
        fields = {"seq": seq, "pid": PID, "payload": tag * max(1, size // len(tag))}
        if kind == "trace":
            try:
                _fail(60)
            except RuntimeError:
                log.exception("trace", extra=fields)
        else:
            log.info(kind, extra=fields)
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


app = build_stack(_app)
