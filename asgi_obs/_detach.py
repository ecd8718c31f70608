"""Handing a request's completing send to the server outside that request's context.

A server may start the next pipelined request's task inside the previous request's last
``send()`` (uvicorn does): that task copies the context of the moment. So the send that
completes a response runs with no ids, no request state and the Sentry scopes of before the
request — or the next request would log and report under this one's (its ids, bound fields,
Sentry tags, user and breadcrumbs), also in the server's own lines after the stack returned.
"""

from __future__ import annotations

import sys
from typing import Any

from ._types import Message, Send
from .context import request_id_var, state_var, trace_id_var

__all__ = ["send_detached"]


async def send_detached(send: Send, message: Message, sentry_base: tuple[Any, Any] | None) -> None:
    """Await ``send(message)`` with the request's context variables cleared, then restored.

    ``sentry_base``: Sentry's (isolation, current) scopes of before the request, or ``None``
    without Sentry. The request's own code after this call sees its context again.
    """
    tokens = (request_id_var.set(None), trace_id_var.set(None), state_var.set(None))
    sentry_tokens = _enter_sentry_base(sentry_base) if sentry_base is not None else None
    try:
        await send(message)
    finally:
        if sentry_tokens is not None:
            _leave_sentry_base(sentry_tokens)
        state_var.reset(tokens[2])
        trace_id_var.reset(tokens[1])
        request_id_var.reset(tokens[0])


def _enter_sentry_base(base: tuple[Any, Any]) -> tuple[Any, ...]:
    # Sentry's own scope variables (sentry_sdk.scope), set back to what they were before the
    # request forked them; sentry_sdk is loaded whenever a base was recorded. Sentry's ASGI
    # middleware marks the context it runs in: a next request is not nested in this one.
    scope_module = sys.modules["sentry_sdk.scope"]
    applied = getattr(sys.modules.get("sentry_sdk.integrations.asgi"), "_asgi_middleware_applied", None)
    return (
        scope_module,
        scope_module._isolation_scope.set(base[0]),
        scope_module._current_scope.set(base[1]),
        applied,
        applied.set(False) if applied is not None else None,
    )


def _leave_sentry_base(tokens: tuple[Any, ...]) -> None:
    scope_module, isolation_token, current_token, applied, applied_token = tokens
    if applied is not None:
        applied.reset(applied_token)
    scope_module._current_scope.reset(current_token)
    scope_module._isolation_scope.reset(isolation_token)
