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
]

# 1-128 characters of a conservative set: safe in headers, URLs, JSON and shells.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@/+=\-]{1,128}")
_SENTRY_TRACE = re.compile(r"[ \t]*([0-9a-f]{32})-([0-9a-f]{16})(?:-([01]))?[ \t]*")
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16
# Hex digit -> the same digit with its two high bits set to 10 (the RFC 4122 variant).
_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


class IncomingTrace(NamedTuple):
    """A trace continued from an incoming header."""

    trace_id: str
    parent_span_id: str
    sampled: bool | None


def valid_request_id(value: str) -> bool:
    """Tell whether ``value`` is acceptable as a request id (1-128 of ``[A-Za-z0-9._:@/+=-]``)."""
    return _REQUEST_ID.fullmatch(value) is not None


def new_span_id() -> str:
    """Return a new span id: 16 lowercase hex digits."""
    return os.urandom(8).hex()


def new_ids() -> tuple[str, str]:
    """Return a new (request id, trace id) pair from a single ``os.urandom`` call.

    One system call instead of two, and no ``uuid.UUID`` object: this runs on every request.
    The request id carries the UUID-4 version and variant bits, so it is a valid ``uuid4().hex``.
    """
    text = os.urandom(32).hex()
    # Version nibble 4 at position 12, variant 10xx at position 16.
    request_id = f"{text[:12]}4{text[13:16]}{_VARIANT[text[16]]}{text[17:32]}"
    trace_id = text[32:]
    if trace_id == _ZERO_TRACE:  # pragma: no cover - probability 2**-128
        trace_id = "1" + trace_id[1:]
    return request_id, trace_id


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
