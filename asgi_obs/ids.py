"""Request ids and trace ids: validation, generation, and parsing of trace headers.

Everything here is compiled once at import and allocation-light, because it runs on every
request. Rejected input is never returned, so it can never reach a log line.
"""

from __future__ import annotations

import os
import re
from typing import NamedTuple

__all__ = [
    "IncomingTrace",
    "new_ids",
    "new_span_id",
    "parse_sentry_trace",
    "parse_traceparent",
    "valid_request_id",
    "valid_trace_id",
]

# 1-128 characters of a conservative set: safe in headers, URLs, JSON and shells.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@/+=\-]{1,128}")
_TRACE_ID = re.compile(r"[0-9a-f]{32}")
_SENTRY_TRACE = re.compile(r"[ \t]*([0-9a-f]{32})-([0-9a-f]{16})(?:-([01]))?[ \t]*")
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16


class IncomingTrace(NamedTuple):
    """A trace continued from an incoming header."""

    trace_id: str
    parent_span_id: str
    sampled: bool | None


def valid_request_id(value: str) -> bool:
    """Tell whether ``value`` is acceptable as a request id (1-128 of ``[A-Za-z0-9._:@/+=-]``)."""
    return _REQUEST_ID.fullmatch(value) is not None


def valid_trace_id(value: str) -> bool:
    """Tell whether ``value`` is a trace id: 32 lowercase hex digits, not all zeros."""
    return _TRACE_ID.fullmatch(value) is not None and value != _ZERO_TRACE


def new_span_id() -> str:
    """Return a new span id: 16 lowercase hex digits."""
    return os.urandom(8).hex()


# Ids are made in batches: one os.urandom call gives _BATCH (request id, trace id) pairs, turned
# into text by C-level calls only (translate, hex with a separator, split, zip), so a request
# pays for a list pop instead of a system call and string surgery.
_BATCH = 256
# Per 32 random bytes: bytes 0-15 the request id with the UUID-4 version (byte 6 high nibble 4)
# and variant (byte 8 high bits 10); bytes 16-31 the trace id, untouched.
_VERSION = bytes((b & 0x0F) | 0x40 for b in range(256))
_VARIANT = bytes((b & 0x3F) | 0x80 for b in range(256))
_pool: list[tuple[str, str]] = []


def _refill() -> None:
    raw = bytearray(os.urandom(32 * _BATCH))
    raw[6::32] = raw[6::32].translate(_VERSION)
    raw[8::32] = raw[8::32].translate(_VARIANT)
    text = raw.hex(" ", 16)  # the ids, 32 digits each, space-separated
    ids = iter(text.split(" "))
    if _ZERO_TRACE in text:  # an all-zero trace id is invalid (2**-128 each): left out
        _pool.extend(pair for pair in zip(ids, ids, strict=True) if pair[1] != _ZERO_TRACE)
    else:
        _pool.extend(zip(ids, ids, strict=True))


if hasattr(os, "register_at_fork"):  # a forked worker must never hand out its parent's ids
    os.register_at_fork(after_in_child=_pool.clear)


def new_ids() -> tuple[str, str]:
    """Return a new (request id, trace id) pair of random ids, 32 lowercase hex digits each.

    The request id carries the UUID-4 version and variant bits, so it is a valid
    ``uuid4().hex``. The randomness is ``os.urandom``'s, drawn in batches (the pool is emptied
    in a forked child); this runs on every request.
    """
    while True:
        try:
            return _pool.pop()
        except IndexError:  # empty (or emptied by another thread since): one batch more
            _refill()


def parse_sentry_trace(value: str) -> IncomingTrace | None:
    """Parse a ``sentry-trace`` header (``traceid-spanid[-sampled]``); ``None`` when invalid."""
    match = _SENTRY_TRACE.fullmatch(value)
    if match is None:
        return None
    trace_id, span_id, sampled = match.groups()
    if trace_id == _ZERO_TRACE or span_id == _ZERO_SPAN:
        return None
    return IncomingTrace(trace_id, span_id, None if sampled is None else sampled == "1")


def parse_traceparent(value: str) -> IncomingTrace | None:
    """Parse a W3C ``traceparent`` header; ``None`` when invalid.

    Rejects version ``ff``, extra fields on version ``00``, and all-zero trace or parent ids,
    as the W3C Trace Context specification requires.
    """
    match = _TRACEPARENT.fullmatch(value.strip(" \t"))
    if match is None:
        return None
    version, trace_id, span_id, flags, rest = match.groups()
    if version == "ff" or (version == "00" and rest is not None):
        return None
    if trace_id == _ZERO_TRACE or span_id == _ZERO_SPAN:
        return None
    return IncomingTrace(trace_id, span_id, bool(int(flags, 16) & 1))
