"""Waiting for the server's next message while a response streams, on the app's behalf.

uvicorn silently ignores ``send()`` once the client left, and an app streaming a response may
never call ``receive()`` again: the only way to notice the client leaving is to wait for the
server's next message ourselves. Whatever arrives is kept and handed to the app's next
``receive()``, in order: a body chunk is never stolen. asyncio only (a trio server raises or
cancels instead, so nothing is missed there).
"""

from __future__ import annotations

import asyncio
import sys
from typing import TYPE_CHECKING

from ._types import Message

if TYPE_CHECKING:
    from ._response import ResponseTracker

__all__ = ["ReadAhead"]


def _asyncio_running() -> bool:
    # asyncio._get_running_loop() is the cheap, non-raising form (None under trio).
    return "asyncio" in sys.modules and asyncio._get_running_loop() is not None


class ReadAhead:
    """The messages a tracker received for the app before the app asked (one per tracker)."""

    __slots__ = ("_listener", "_pending")

    def __init__(self) -> None:
        self._listener: asyncio.Future[None] | None = None
        self._pending: list[Message] = []

    def start(self, tracker: ResponseTracker) -> None:
        """Wait for the server's next message, unless already waiting or holding enough.

        Never while the app itself waits for the server (one reader at a time), and bounded:
        once the request body is read (the one message left to come is the disconnect), or
        while nothing is held for the app yet.
        """
        listener = self._listener
        if (
            (listener is None or listener.done())
            and not tracker.app_receiving
            and (not self._pending or tracker.body_read)
            and _asyncio_running()
        ):
            self._listener = asyncio.ensure_future(self._listen(tracker))

    async def _listen(self, tracker: ResponseTracker) -> None:
        self._pending.append(await tracker.receive_from_server())

    async def take(self) -> Message | None:
        """The oldest message received for the app (waiting for one being received), or ``None``."""
        listener = self._listener
        if listener is not None and not listener.done():
            await listener  # a cancellation of the app's receive cancels it too: nothing lost
        return self._pending.pop(0) if self._pending else None

    def close(self) -> None:
        """Stop waiting for the server (the request is over)."""
        listener = self._listener
        if listener is not None:
            self._listener = None
            listener.cancel()
