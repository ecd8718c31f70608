"""The 500 the error layer sends when the app failed before starting a response (or a handshake)."""

from __future__ import annotations

import json

from ._types import Message, Send

__all__ = ["send_500", "send_500_denial"]

_PLAIN_BODY = b"Internal Server Error"
_PLAIN_HEADERS = [
    (b"content-type", b"text/plain; charset=utf-8"),
    (b"content-length", str(len(_PLAIN_BODY)).encode("ascii")),
]


async def send_500(send: Send, *, problem_json: bool, request_id: str | None) -> None:
    """Send a complete 500: plain text, or RFC 9457 ``application/problem+json`` with the id.

    A client that is already gone (``OSError`` from the server) is not an error here.
    """
    headers = _PLAIN_HEADERS
    body = _PLAIN_BODY
    if problem_json:
        problem = {
            "type": "about:blank",
            "title": "Internal Server Error",
            "status": 500,
            "request_id": request_id,
        }
        body = json.dumps(problem).encode("utf-8")
        headers = [
            (b"content-type", b"application/problem+json"),
            (b"content-length", str(len(body)).encode("ascii")),
        ]
    try:
        await send({"type": "http.response.start", "status": 500, "headers": list(headers)})
        await send({"type": "http.response.body", "body": body, "more_body": False})
    except OSError:
        return  # the client is gone: nobody is left to receive the 500


async def send_500_denial(send: Send, *, problem_json: bool, request_id: str | None) -> None:
    """The same 500 as a WebSocket denial response (the ``websocket.http.response`` extension)."""

    async def as_denial(message: Message) -> None:
        kind = message["type"].replace("http.response.", "websocket.http.response.")
        await send({**message, "type": kind})

    await send_500(as_denial, problem_json=problem_json, request_id=request_id)
