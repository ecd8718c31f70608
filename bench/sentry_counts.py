"""Sentry events per failure, before and after asgi_obs: the README's "Sentry" table.

Runs the test suite's event-count matrix apps (tests/sentry_apps.py) in-process against the real
sentry-sdk with an in-memory transport, twice per row:

* before: the app as most services run it today: Sentry's default integrations, no asgi_obs,
  and the server's own "Exception in ASGI application" log for an exception that escapes
  (reproduced exactly as uvicorn writes it, on the ``uvicorn.error`` logger);
* after: the same app wrapped in ``build_stack``.

Each row is run with Sentry's DedupeIntegration on and off. "Before" and "after" run in
separate processes: asgi_obs' event processor, once registered, stays for the process. Usage::

    python bench/sentry_counts.py            # markdown table on stdout
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from asgi_obs import build_stack
from tests import sentry_apps, sentry_support
from tests.asgi import call, http_scope

ROWS = [
    ("raise RuntimeError (async)", "/raise"),
    ("raise RuntimeError (sync)", "/raise-sync"),
    ("HTTPException(500)", "/http-500"),
    ("HTTPException(503)", "/http-503"),
    ("HTTPException(404)", "/http-404"),
    ("logger.exception + re-raise (async)", "/logged-reraise"),
    ("logger.exception + re-raise (sync)", "/logged-reraise-sync"),
    ("log.exception(e); raise HTTPException(500) from e", "/logged-then-http-500"),
    ("custom exception handler returning 500", "/custom-handler-500"),
    ("returned JSONResponse(status_code=500)", "/returned-500"),
    ("exception after the response started", "/after-start"),
    ("client disconnect", "/disconnect"),
]


def as_served_by_uvicorn(app: Any) -> Any:
    """What uvicorn does with an exception that escapes the app: log it, with its traceback."""
    server_log = logging.getLogger("uvicorn.error")

    async def server(scope: Any, receive: Any, send: Any) -> None:
        try:
            await app(scope, receive, send)
        except BaseException as exc:  # noqa: BLE001 - reproduces uvicorn's run_asgi
            server_log.error("Exception in ASGI application\n", exc_info=exc)

    return server


def count(kind: str, path: str, *, with_asgi_obs: bool, dedupe: bool) -> int:
    transport = sentry_support.MemoryTransport()
    sentry_support.init(transport, dedupe=dedupe)
    inner = sentry_apps.fastapi_app() if kind == "fastapi" else sentry_apps.starlette_app()
    app = as_served_by_uvicorn(build_stack(inner) if with_asgi_obs else inner)
    asyncio.run(call(app, http_scope(path=path), disconnect_after_start=path == "/disconnect"))
    return len(transport.events)


def measure(with_asgi_obs: bool) -> dict[str, int]:
    """Count the events of every row, in this process (one mode per process)."""
    logging.basicConfig(level=logging.INFO, stream=open(os.devnull, "w"))  # noqa: SIM115
    counts = {}
    for _, path in ROWS:
        for kind in ("starlette", "fastapi"):
            for dedupe in (True, False):
                key = f"{kind} {path} {dedupe}"
                counts[key] = count(kind, path, with_asgi_obs=with_asgi_obs, dedupe=dedupe)
    return counts


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--measure":
        print(json.dumps(measure(sys.argv[2] == "after")))
        return
    results = {
        mode: json.loads(
            subprocess.run(
                [sys.executable, __file__, "--measure", mode], capture_output=True, text=True, check=True
            ).stdout
        )
        for mode in ("before", "after")
    }
    print("| failure | Starlette before | Starlette after | FastAPI before | FastAPI after |")
    print("|---|---|---|---|---|")
    for label, path in ROWS:
        cells = []
        for kind in ("starlette", "fastapi"):
            for mode in ("before", "after"):
                on, off = results[mode][f"{kind} {path} True"], results[mode][f"{kind} {path} False"]
                cells.append(str(on) if on == off else f"{on} ({off} without Dedupe)")
        print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
