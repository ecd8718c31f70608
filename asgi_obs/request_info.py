"""What the records say about a request: its route template, user agent, WebSocket frames."""

from __future__ import annotations

from ._types import Message, Scope

__all__ = ["PATH_MAX", "USER_AGENT_MAX", "capped_path", "frame_size", "route_template"]

#: A longer User-Agent is cut: it is logged on every request.
USER_AGENT_MAX = 512
#: A longer path is cut on records (it comes from the client: a 64 KB path must not make a
#: 128 KB line, on every request of an attacker).
PATH_MAX = 2048
_CUT = "...[truncated]"


def capped_path(scope: Scope) -> str:
    """The request's path as records write it: at most :data:`PATH_MAX` characters, then a marker."""
    path: str = scope.get("path", "")
    if len(path) > PATH_MAX:
        return path[:PATH_MAX] + _CUT
    return path


def route_template(scope: Scope) -> str | None:
    """Return the route template the framework matched (``/users/{user_id}``), else ``None``.

    Starlette and FastAPI put the matched route object in ``scope["route"]``; under a ``Mount``
    the mount's prefix (``root_path`` beyond the app's own) is prepended. Litestar puts the
    template in ``scope["path_template"]``. Django and Quart keep the matched pattern on their
    request object, not in the scope: ``None`` for them.
    """
    route = scope.get("route")
    path = getattr(route, "path", None) if route is not None else None
    if isinstance(path, str):
        app_root = scope.get("app_root_path")
        if isinstance(app_root, str):
            root = scope.get("root_path") or ""
            if len(root) > len(app_root) and root.startswith(app_root):
                # The mount's prefix as the client sent it (a Mount("/t/{tenant}") leaves its
                # value there): capped like the path.
                path = root[len(app_root) :] + path
                if len(path) > PATH_MAX:
                    path = path[:PATH_MAX] + _CUT
        return path
    template = scope.get("path_template")
    return template if isinstance(template, str) else None


def frame_size(message: Message) -> int:
    """Size of a WebSocket frame's payload: bytes, or text as UTF-8 (ASCII counted directly)."""
    data = message.get("bytes")
    if data is not None:
        return len(data)
    text = message.get("text")
    if text is None:
        return 0
    return len(text) if text.isascii() else len(text.encode("utf-8", "replace"))
