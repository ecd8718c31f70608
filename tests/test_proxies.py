"""Proxy awareness: the client's address from X-Forwarded-For only through trusted proxies."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asgi_obs.proxies import TrustedProxies

PROXIES = TrustedProxies(["10.0.0.0/8", "192.168.1.1", "2001:db8:ffff::/48"])


def scope(peer: str | None, *forwarded: str) -> dict[str, Any]:
    headers = [(b"host", b"x")] + [(b"x-forwarded-for", value.encode("latin-1")) for value in forwarded]
    return {"type": "http", "client": None if peer is None else (peer, 5000), "headers": headers}


# (peer, X-Forwarded-For headers, expected client_ip) with PROXIES trusted.
CASES = [
    ("10.0.0.1", ["1.2.3.4"], "1.2.3.4"),
    ("10.0.0.1", ["6.6.6.6, 1.2.3.4"], "1.2.3.4"),  # spoofed leftmost ignored
    ("10.0.0.1", ["6.6.6.6, 1.2.3.4, 10.0.0.2"], "1.2.3.4"),  # chain of trusted hops
    ("10.0.0.1", ["6.6.6.6", "1.2.3.4, 10.0.0.2"], "1.2.3.4"),  # several headers, in order
    ("10.0.0.1", ["10.0.0.3, 192.168.1.1"], "10.0.0.3"),  # all trusted: the leftmost
    ("10.0.0.1", [], "10.0.0.1"),  # no header: the peer
    ("10.0.0.1", [""], "10.0.0.1"),
    ("10.0.0.1", ["1.2.3.4, , "], "1.2.3.4"),  # empty entries are no hops
    ("8.8.8.8", ["1.2.3.4"], "8.8.8.8"),  # untrusted peer: the header is the client's own
    ("10.0.0.1", ["1.2.3.4, garbage"], "10.0.0.1"),  # garbage stops at the last trusted address
    ("10.0.0.1", ["1.2.3.4, unknown, 10.0.0.2"], "10.0.0.2"),
    ("10.0.0.1", ["<script>alert(1)</script>"], "10.0.0.1"),
    ("10.0.0.1", ["1.2.3.4 5.6.7.8"], "10.0.0.1"),
    ("10.0.0.1", ["1.2.3.4:5678"], "1.2.3.4"),  # ports
    ("10.0.0.1", ["1.2.3.4:abc"], "10.0.0.1"),
    ("10.0.0.1", ["1.2.3.4:"], "10.0.0.1"),
    ("10.0.0.1", ["1.2.3.4:\u00b2\u00b3"], "10.0.0.1"),  # "²³" is digits to isdigit(), not a port
    ("10.0.0.1", ["[2001:db8::1]:443"], "2001:db8::1"),  # IPv6, bracketed
    ("10.0.0.1", ["[2001:db8::1]"], "2001:db8::1"),
    ("10.0.0.1", ["2001:DB8:0::1"], "2001:db8::1"),  # canonical form
    ("10.0.0.1", ["[2001:db8::1"], "10.0.0.1"),
    ("10.0.0.1", ["[2001:db8::1]x"], "10.0.0.1"),
    ("10.0.0.1", ["1.2.3.4, 2001:db8:ffff::9"], "1.2.3.4"),  # trusted IPv6 hop
    ("2001:db8:ffff::1", ["1.2.3.4"], "1.2.3.4"),  # trusted IPv6 peer
    ("::ffff:10.0.0.1", ["::ffff:1.2.3.4"], "1.2.3.4"),  # IPv4-mapped: matched and shown as IPv4
    ("10.0.0.1", ["1.2.3.4" + "0" * 100], "10.0.0.1"),
    ("10.0.0.1", ["1" * 10_000], "10.0.0.1"),
    ("/run/app.sock", ["1.2.3.4"], None),  # no IP peer: never trusted
    (None, ["1.2.3.4"], None),
]


@pytest.mark.parametrize(("peer", "forwarded", "expected"), CASES)
def test_client_ip(peer: str | None, forwarded: list[str], expected: str | None) -> None:
    """Right to left past trusted hops; the first untrusted one is the client, never header text."""
    assert PROXIES.client_ip(scope(peer, *forwarded)) == expected


def test_unconfigured_is_the_peer() -> None:
    """Without trusted proxies, X-Forwarded-For is ignored and the server's peer is the client."""
    unconfigured = TrustedProxies()
    assert not unconfigured and PROXIES
    assert unconfigured.client_ip(scope("10.0.0.1", "6.6.6.6")) == "10.0.0.1"
    assert unconfigured.client_ip(scope(None, "6.6.6.6")) is None
    assert unconfigured.client_ip(scope("/run/app.sock", "6.6.6.6")) == "/run/app.sock"  # as the server said
    assert unconfigured.client_ip({"type": "http"}) is None


def test_address_objects_accepted() -> None:
    """ipaddress objects and bare addresses are trusted like CIDRs."""
    proxies = TrustedProxies([ipaddress.ip_address("10.1.1.1"), ipaddress.ip_network("fd00::/8"), "::1"])
    assert proxies.client_ip(scope("10.1.1.1", "1.2.3.4")) == "1.2.3.4"
    assert proxies.client_ip(scope("fd00::5", "1.2.3.4")) == "1.2.3.4"
    assert proxies.client_ip(scope("::1", "1.2.3.4")) == "1.2.3.4"
    assert proxies.client_ip(scope("10.1.1.2", "1.2.3.4")) == "10.1.1.2"


@pytest.mark.parametrize("value", ["10.0.0.0/33", "not-an-ip", "", "*", None, "10.0.0.0/8"])
def test_invalid_trusted_proxies(value: Any) -> None:
    """A bad entry, or one string instead of a list, is a ValueError naming trusted_proxies."""
    with pytest.raises(ValueError, match="trusted_proxies"):
        TrustedProxies(value if value == "10.0.0.0/8" else [value])


@settings(database=None, deadline=None, max_examples=300)
@given(st.lists(st.text(max_size=60), max_size=4))
def test_any_header_gives_an_ip_or_none(forwarded: list[str]) -> None:
    """Whatever the headers say, the result is a canonical IP address, never raw header text."""
    result = PROXIES.client_ip(
        scope("10.0.0.1", *[value.encode("utf-8").decode("latin-1") for value in forwarded])
    )
    assert result is not None and str(ipaddress.ip_address(result)) == result
