"""Which address the access record names as the client: the peer, or what trusted proxies say."""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable
from typing import TypeAlias

from ._types import Scope

__all__ = ["TrustedProxies"]

_Network: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network
_Address: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
_LONGEST_ADDRESS = 64  # longer than any IP address text, with brackets, port and zone: garbage


class TrustedProxies:
    """The client's address of a request, taking ``X-Forwarded-For`` only from trusted proxies.

    Built once (per layer) from CIDR strings or addresses (``"10.0.0.0/8"``, ``"::1"``,
    :mod:`ipaddress` objects); anything else is a ``ValueError`` naming ``trusted_proxies``.
    With none, :meth:`client_ip` is the peer the server reports (``scope["client"]``, which the
    server's own ``--forwarded-allow-ips`` may already have rewritten: it stays authoritative).
    """

    __slots__ = ("_lookup", "_networks")

    def __init__(self, trusted_proxies: Iterable[str | _Address | _Network] = ()) -> None:
        if isinstance(trusted_proxies, (str, bytes)):
            raise ValueError("trusted_proxies must be a list of CIDRs or addresses, not one string")
        networks: list[_Network] = []
        for entry in trusted_proxies:
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except (TypeError, ValueError):
                raise ValueError(f"trusted_proxies: {entry!r} is not an IP address or CIDR") from None
        self._networks = tuple(networks)
        # Hop text -> (canonical address, trusted?) or None for garbage; a handful of proxies and
        # recurring clients, so a bounded cache spares ipaddress parsing on most requests.
        self._lookup = functools.lru_cache(maxsize=4096)(self._parse)

    def __bool__(self) -> bool:
        return bool(self._networks)

    def client_ip(self, scope: Scope) -> str | None:
        """The client's IP for ``scope``; called once per request, when its record is built.

        Unconfigured: ``scope["client"][0]`` (``None`` without a client). Configured: when the
        peer is a trusted proxy, the ``X-Forwarded-For`` headers (all of them, in order, joined)
        are walked right to left past trusted hops, and the first untrusted address is the
        client; the leftmost entry, which the client wrote itself, is never taken on trust.
        Hops may carry a port (``1.2.3.4:80``, ``[::1]:80``) or brackets; a hop that is no IP
        address (``unknown``, garbage) stops the walk at the last trusted address before it, and
        when every hop is trusted the leftmost one is the client. The result is then always a
        canonical IP address (IPv4-mapped IPv6 as IPv4) or ``None``, never header text.
        """
        client = scope.get("client")
        peer: str | None = client[0] if client else None
        if not self._networks:
            return peer
        if peer is None or len(peer) > _LONGEST_ADDRESS:
            return None
        parsed = self._lookup(peer)
        if parsed is None:
            return None
        address, trusted = parsed
        if not trusted:
            return address
        forwarded = [value for name, value in scope.get("headers", ()) if name == b"x-forwarded-for"]
        if not forwarded:
            return address
        for hop in reversed(b",".join(forwarded).decode("latin-1").split(",")):
            hop = hop.strip()
            if not hop:
                continue  # "a,,b" or an empty header: no hop, not garbage
            parsed = self._lookup(hop) if len(hop) <= _LONGEST_ADDRESS else None
            if parsed is None:
                return address  # the last trusted address before the garbage
            address, trusted = parsed
            if not trusted:
                return address
        return address

    def _parse(self, hop: str) -> tuple[str, bool] | None:
        host = _strip_port(hop)
        if host is None:
            return None
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return None
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return str(address), any(address in network for network in self._networks)


def _strip_port(hop: str) -> str | None:
    """The host of ``1.2.3.4``, ``1.2.3.4:80``, ``::1``, ``[::1]`` or ``[::1]:80``; None if malformed."""
    if hop.startswith("["):
        host, bracket, port = hop[1:].partition("]")
        if not bracket or (port and not (port[0] == ":" and port[1:].isdigit() and port[1:].isascii())):
            return None
        return host
    if hop.count(":") == 1:
        host, _, port = hop.partition(":")
        return host if port.isdigit() and port.isascii() and "." in host else None
    return hop
