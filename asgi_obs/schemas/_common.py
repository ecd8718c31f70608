"""What the presets share: the converter type, the keys they handle themselves, small helpers."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

from ..context import state_var

__all__ = ["TOP", "Converter", "exception_of", "put", "service_identity", "span_id_of", "to_ns"]

#: A preset: ``(default record dict, LogRecord) -> dict to encode``.
Converter = Callable[[dict[str, Any], logging.LogRecord], dict[str, Any]]

#: Keys of the default record each preset places itself (the rest are fields).
TOP = frozenset(
    {"timestamp", "level", "logger", "message", "request_id", "trace_id", "exc_info", "stack_info"}
)


def service_identity() -> dict[str, str]:
    """``name``/``version``/``environment`` from ``OTEL_SERVICE_NAME`` (else ``SERVICE_NAME``),
    ``SERVICE_VERSION``, ``SERVICE_ENVIRONMENT``; unset or empty ones are left out."""
    values = {
        "name": os.environ.get("OTEL_SERVICE_NAME") or os.environ.get("SERVICE_NAME"),
        "version": os.environ.get("SERVICE_VERSION"),
        "environment": os.environ.get("SERVICE_ENVIRONMENT"),
    }
    return {key: value.strip() for key, value in values.items() if value and value.strip()}


def span_id_of(trace_id: object) -> str | None:
    # The request's span id (the parent id its outgoing ``traceparent`` announces), when the
    # record is formatted in the request's context and belongs to that request.
    state = state_var.get()
    if state is None or trace_id is None or state.trace_id != trace_id:
        return None
    return state.span_id


def exception_of(record: logging.LogRecord) -> tuple[str | None, str | None]:
    exc_info = record.exc_info
    if isinstance(exc_info, tuple) and exc_info[0] is not None:
        try:
            return exc_info[0].__name__, str(exc_info[1])
        except Exception:  # noqa: BLE001 - a broken __str__ must not lose the line
            return exc_info[0].__name__, None
    return None, None


def put(out: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    """Set ``out[path[0]][path[1]]... = value``; on a clash keep the dotted name flat."""
    node = out
    for part in path[:-1]:
        child = node.setdefault(part, {})
        if type(child) is not dict:
            out[".".join(path)] = value
            return
        node = child
    if path[-1] in node:
        out[".".join(path)] = value
    else:
        node[path[-1]] = value


def to_ns(duration_ms: Any) -> Any:
    return round(duration_ms * 1_000_000) if isinstance(duration_ms, (int, float)) else duration_ms
