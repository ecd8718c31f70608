"""A hand-driven ASGI server for the cases an HTTP client cannot produce (disconnects, aborts).

``call()`` plays the server's part: builds the scope, feeds ``receive`` from a script, records
every message the app sends, and returns them with the exception the app raised, if any.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx

Message = dict[str, Any]


@dataclass
class Result:
    sent: list[Message] = field(default_factory=list)
    exc: BaseException | None = None

    @property
    def start(self) -> Message:
        return next(m for m in self.sent if m["type"] in ("http.response.start", "websocket.accept"))

    def header(self, name: bytes) -> list[bytes]:
        return [v for k, v in self.start.get("headers", []) if k.lower() == name]

    @property
    def status(self) -> int:
        return int(self.start["status"])

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent if m["type"] == "http.response.body")


def http_scope(
    path: str = "/", method: str = "GET", headers: list[tuple[bytes, bytes]] | None = None, query: bytes = b""
) -> Message:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query,
        "headers": headers or [(b"host", b"test"), (b"user-agent", b"asgi-test")],
        "client": ("10.0.0.1", 5555),
        "server": ("test", 80),
    }


async def call(
    app: Callable[..., Awaitable[None]],
    scope: Message | None = None,
    *,
    incoming: list[Message] | None = None,
    disconnect_after_start: bool = False,
    on_send: Callable[[Message], Awaitable[None]] | None = None,
) -> Result:
    """Run one request through ``app``.

    ``incoming`` is what ``receive`` returns in order (then it blocks, or reports
    ``http.disconnect`` as soon as the response started when ``disconnect_after_start``).
    """
    scope = scope or http_scope()
    queue = list(
        incoming if incoming is not None else [{"type": "http.request", "body": b"", "more_body": False}]
    )
    result = Result()
    started = anyio.Event()  # anyio: the same driver runs on asyncio and trio

    async def receive() -> Message:
        if queue:
            return queue.pop(0)
        if disconnect_after_start:
            await started.wait()
            return {"type": "http.disconnect"}
        await anyio.Event().wait()  # a real server blocks until something happens
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        result.sent.append(message)
        if message["type"] in ("http.response.start", "websocket.accept"):
            started.set()
        if on_send is not None:
            await on_send(message)

    try:
        await app(scope, receive, send)
    except BaseException as exc:  # noqa: BLE001 - the test inspects it
        result.exc = exc
    return result


def client(app: Callable[..., Awaitable[None]], **kwargs: Any) -> httpx.AsyncClient:
    """An httpx client calling ``app`` in-process (in the test's own task)."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, **kwargs), base_url="http://testserver")
