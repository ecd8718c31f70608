"""The response tracker alone: every ASGI message order, and what it concludes from each."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from asgi_obs._response import ResponseTracker, attach

from .asgi import http_scope

pytestmark = pytest.mark.anyio

Message = dict[str, Any]
START = {"type": "http.response.start", "status": 200, "headers": []}


class FakeServer:
    """Records what it is sent; ``receive`` pops a script, then blocks (or reports a disconnect)."""

    def __init__(self, incoming: list[Message] | None = None, *, fail_on: str | None = None) -> None:
        self.incoming = list(incoming or [])
        self.sent: list[Message] = []
        self.fail_on = fail_on
        self.gone = asyncio.Event()

    async def receive(self) -> Message:
        if self.incoming:
            return self.incoming.pop(0)
        await self.gone.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        if message["type"] == self.fail_on:
            raise OSError("connection reset")
        self.sent.append(message)


def tracker(server: FakeServer, scope: Message | None = None) -> ResponseTracker:
    return ResponseTracker(scope or http_scope(), server.receive, server.send)


async def test_start_then_single_body_completes() -> None:
    """One start and one final body: started, completed, status and bytes recorded."""
    server = FakeServer()
    t = tracker(server)
    await t.send(START)
    assert t.started and not t.completed and t.status == 200
    await t.send({"type": "http.response.body", "body": b"hello"})
    assert t.completed and not t.disconnected
    assert t.response_bytes == 5


async def test_chunks_with_more_body() -> None:
    """Chunks with more_body count towards the bytes; only the last one completes."""
    server = FakeServer()
    t = tracker(server)
    await t.send(START)
    await t.send({"type": "http.response.body", "body": b"ab", "more_body": True})
    assert not t.completed
    await t.send({"type": "http.response.body", "body": b"cde", "more_body": False})
    assert t.completed and t.response_bytes == 5
    t.close()


@pytest.mark.parametrize("kind", ["http.response.pathsend", "http.response.zerocopysend"])
async def test_body_extensions_complete(kind: str) -> None:
    """pathsend and zerocopysend end the response like a final body message."""
    server = FakeServer()
    t = tracker(server)
    await t.send(START)
    await t.send({"type": kind, "path": "/tmp/x"})
    assert t.completed


async def test_trailers_complete_only_at_the_last_trailers_message() -> None:
    """With trailers announced, the final body is not the end; the last trailers message is."""
    server = FakeServer()
    t = tracker(server)
    await t.send({**START, "trailers": True})
    await t.send({"type": "http.response.body", "body": b"x"})
    assert not t.completed
    await t.send({"type": "http.response.trailers", "headers": [], "more_trailers": True})
    assert not t.completed
    await t.send({"type": "http.response.trailers", "headers": []})
    assert t.completed


async def test_a_second_start_does_not_change_the_status() -> None:
    """The status is the first start's: a second start is the server's to refuse."""
    server = FakeServer()
    t = tracker(server)
    await t.send({**START, "status": 201})
    await t.send({**START, "status": 500})
    assert t.status == 201


async def test_disconnect_before_completion() -> None:
    """An http.disconnect received before the response completed marks the client gone."""
    server = FakeServer([{"type": "http.disconnect"}])
    t = tracker(server)
    await t.send(START)
    assert (await t.receive())["type"] == "http.disconnect"
    assert t.disconnected


async def test_disconnect_after_completion_is_not_a_disconnect() -> None:
    """An http.disconnect after the last byte (every server sends one) changes nothing."""
    server = FakeServer([{"type": "http.disconnect"}])
    t = tracker(server)
    await t.send(START)
    await t.send({"type": "http.response.body", "body": b""})
    await t.receive()
    assert t.completed and not t.disconnected


async def test_request_bytes_and_body_read() -> None:
    """Request body chunks are counted; the last one marks the body read."""
    server = FakeServer(
        [
            {"type": "http.request", "body": b"abc", "more_body": True},
            {"type": "http.request", "body": b"de", "more_body": False},
        ]
    )
    t = tracker(server)
    await t.receive()
    assert not t.body_read
    await t.receive()
    assert t.body_read and t.request_bytes == 5


async def test_send_raising_oserror_marks_a_disconnect() -> None:
    """A server that cannot write (OSError) means the client is gone; the error propagates."""
    server = FakeServer(fail_on="http.response.body")
    t = tracker(server)
    await t.send(START)
    with pytest.raises(OSError):
        await t.send({"type": "http.response.body", "body": b"x", "more_body": True})
    assert t.disconnected


async def test_last_byte_counts_as_complete_even_if_that_send_is_cancelled() -> None:
    """Completion is set when the last byte is handed over: a cancelled final send keeps it."""
    blocked = asyncio.Event()

    async def slow_send(message: Message) -> None:
        if message["type"] == "http.response.body":
            await blocked.wait()

    t = ResponseTracker(http_scope(), FakeServer().receive, slow_send)
    await t.send(START)
    task = asyncio.ensure_future(t.send({"type": "http.response.body", "body": b"done"}))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert t.completed and not t.disconnected


async def test_a_disconnect_while_streaming_is_noticed_without_the_app_receiving() -> None:
    """A streamed response notices the client leaving although the app never calls receive()."""
    server = FakeServer()
    t = tracker(server)
    await t.send(START)
    await t.send({"type": "http.response.body", "body": b"1234", "more_body": True})
    server.gone.set()
    for _ in range(3):
        await asyncio.sleep(0)
    assert t.disconnected
    await t.send({"type": "http.response.body", "body": b"5678", "more_body": True})
    assert t.response_bytes == 4  # what was sent after the client left never reached it
    t.close()


async def test_the_watcher_never_steals_a_message_from_the_app() -> None:
    """A body chunk the watcher received while streaming is handed to the app's next receive()."""
    chunk = {"type": "http.request", "body": b"late", "more_body": False}
    server = FakeServer([chunk])
    t = tracker(server)
    await t.send(START)
    await t.send({"type": "http.response.body", "body": b"x", "more_body": True})
    await asyncio.sleep(0)
    assert await t.receive() == chunk
    assert t.request_bytes == 4 and not t.disconnected
    t.close()


async def test_close_cancels_the_watcher() -> None:
    """close() stops waiting for the server: no task outlives the request."""
    server = FakeServer()
    t = tracker(server)
    await t.send(START)
    await t.send({"type": "http.response.body", "body": b"x", "more_body": True})
    assert t._ahead is not None
    listener = t._ahead._listener
    assert listener is not None
    t.close()
    await asyncio.sleep(0)
    assert listener.cancelled()


async def test_id_header_is_set_not_appended() -> None:
    """The id header replaces one the app set (any case) and the app's message stays untouched."""
    server = FakeServer()
    t = tracker(server)
    t.id_header = (b"x-request-id", b"abc")
    original = {**START, "headers": [(b"X-Request-ID", b"app"), (b"content-type", b"text/plain")]}
    await t.send(original)
    (sent,) = server.sent
    assert [h for h in sent["headers"] if h[0].lower() == b"x-request-id"] == [(b"x-request-id", b"abc")]
    assert original["headers"][0] == (b"X-Request-ID", b"app")


async def test_websocket_messages_and_close_code() -> None:
    """A WebSocket: accept is status 101, frames are counted both ways, the close code kept."""
    scope = {**http_scope(), "type": "websocket"}
    server = FakeServer([{"type": "websocket.connect"}, {"type": "websocket.receive", "text": "héllo"}])
    t = tracker(server, scope)
    await t.receive()
    await t.send({"type": "websocket.accept"})
    await t.receive()
    await t.send({"type": "websocket.send", "bytes": b"abc"})
    await t.send({"type": "websocket.close", "code": 1001})
    assert t.status == 101 and t.completed
    assert (t.messages_in, t.messages_out) == (1, 1)
    assert (t.request_bytes, t.response_bytes) == (6, 3)
    assert t.close_code == 1001


async def test_websocket_closed_before_accept_is_a_403() -> None:
    """Closing before the handshake is the server's 403."""
    scope = {**http_scope(), "type": "websocket"}
    t = tracker(FakeServer(), scope)
    await t.send({"type": "websocket.close"})
    assert t.status == 403 and t.close_code == 1000


async def test_websocket_disconnect_keeps_the_clients_code() -> None:
    """The client's close code is the one recorded when it leaves first."""
    scope = {**http_scope(), "type": "websocket"}
    t = tracker(FakeServer([{"type": "websocket.disconnect", "code": 1006}]), scope)
    await t.receive()
    assert t.disconnected and t.close_code == 1006


async def test_attach_recognises_only_a_trackers_own_send() -> None:
    """A layer reuses the tracker behind the send it is given; any other callable gets a new one."""
    server = FakeServer()
    t = tracker(server)
    reused, receive, send, own = attach(http_scope(), t.receive, t.send)
    assert reused is t and not own and send == t.send and receive == t.receive
    for other in (server.send, lambda message: None):
        made, receive, send, own = attach(http_scope(), server.receive, other)
        assert made is not t and own and send == made.send and receive == made.receive
