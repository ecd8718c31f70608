"""ids: request-id validation, id generation, sentry-trace and traceparent parsing."""

from __future__ import annotations

import os
import re

import pytest

from asgi_obs.ids import new_ids, new_span_id, parse_sentry_trace, parse_traceparent, valid_request_id

from .forking import probe_child_and_parent

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = "00f067aa0ba902b7"


# Accepted: 1-128 chars of [A-Za-z0-9._:@/+=-]. Rejected: everything that could break a header,
# a log line or a shell.
@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("abc-123", True),
        ("a", True),
        ("x" * 128, True),
        ("AZaz09._:@/+=-", True),
        ("", False),
        ("x" * 129, False),
        ("a\nb", False),
        ('a"b', False),
        ("{a}", False),
        ("a b", False),
        ("é", False),
        ("a,b", False),
    ],
)
def test_request_id_rule(value: str, ok: bool) -> None:
    """valid_request_id() implements the DESIGN §4 rule exactly."""
    assert valid_request_id(value) is ok


def test_generated_ids_are_well_formed_and_distinct() -> None:
    """Request ids are uuid4 hex; trace ids 32 hex, span ids 16 hex; no repeats (across batches)."""
    import uuid

    seen = set()
    for _ in range(1000):
        request_id, trace_id = new_ids()
        parsed = uuid.UUID(hex=request_id)
        assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)
        assert parsed.hex == request_id
        assert re.fullmatch("[0-9a-f]{32}", trace_id) and trace_id != "0" * 32
        assert re.fullmatch("[0-9a-f]{16}", new_span_id())
        seen.add(request_id)
    assert len(seen) == 1000


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_child_never_repeats_the_parents_ids() -> None:
    """Ids come in batches: a forked worker must not hand out the ones its parent still holds."""
    setup = (
        "from asgi_obs.ids import new_ids\n"
        "new_ids()  # the parent now holds the rest of a batch\n"
        "def probe():\n"
        "    return ''.join(new_ids())\n"
    )
    child, parent = probe_child_and_parent(setup)
    assert re.fullmatch("[0-9a-f]{64}", child) and re.fullmatch("[0-9a-f]{64}", parent)
    assert child != parent


# sentry-trace: trace-span[-sampled]
@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (f"{TRACE}-{SPAN}", (TRACE, SPAN, None)),
        (f"{TRACE}-{SPAN}-1", (TRACE, SPAN, True)),
        (f"{TRACE}-{SPAN}-0", (TRACE, SPAN, False)),
        (f" {TRACE}-{SPAN} ", (TRACE, SPAN, None)),
        (f"{TRACE.upper()}-{SPAN}", None),
        (f"{TRACE}", None),
        (f"{'0' * 32}-{SPAN}", None),
        (f"{TRACE}-{SPAN}-2", None),
        ("garbage", None),
    ],
)
def test_sentry_trace(header: str, expected: tuple[str, str, bool | None] | None) -> None:
    """Valid sentry-trace headers parse; anything else is None."""
    parsed = parse_sentry_trace(header)
    assert (tuple(parsed) if parsed else None) == expected


# traceparent: version-trace-parent-flags, W3C rules
@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (f"00-{TRACE}-{SPAN}-01", (TRACE, SPAN, True)),
        (f"00-{TRACE}-{SPAN}-00", (TRACE, SPAN, False)),
        (f"01-{TRACE}-{SPAN}-01-future", (TRACE, SPAN, True)),
        (f"00-{TRACE}-{SPAN}-01-extra", None),
        (f"ff-{TRACE}-{SPAN}-01", None),
        (f"00-{'0' * 32}-{SPAN}-01", None),
        (f"00-{TRACE}-{'0' * 16}-01", None),
        (f"00-{TRACE.upper()}-{SPAN}-01", None),
        (f"00-{TRACE}-{SPAN}", None),
        ("00-xyz", None),
    ],
)
def test_traceparent(header: str, expected: tuple[str, str, bool] | None) -> None:
    """Valid traceparent headers parse; invalid versions, zero ids and malformed ones are None."""
    parsed = parse_traceparent(header)
    assert (tuple(parsed) if parsed else None) == expected


def test_generated_ids_never_include_an_all_zero_trace(monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch whose random bytes give an all-zero trace id leaves that pair out."""
    import asgi_obs.ids as ids_module

    def urandom(size: int) -> bytes:  # every other pair: trace bytes all zero
        pair_ok = bytes(range(1, 33))
        pair_zero = bytes(range(1, 17)) + bytes(16)
        return (pair_ok + pair_zero) * (size // 64)

    monkeypatch.setattr(ids_module.os, "urandom", urandom)
    monkeypatch.setattr(ids_module, "_pool", [])
    pairs = [ids_module.new_ids() for _ in range(ids_module._BATCH // 2)]
    assert all(trace != "0" * 32 for _, trace in pairs)
    assert {request for request, _ in pairs} == {"0102030405064708890a0b0c0d0e0f10"}
