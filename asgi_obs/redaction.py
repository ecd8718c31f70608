"""What of a request may reach the access log: redacted query strings, bounded header values."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import unquote_plus

__all__ = ["DEFAULT_REDACTED_PARAMS", "QueryRedactor"]

DEFAULT_REDACTED_PARAMS = frozenset(
    {"token", "access_token", "code", "password", "secret", "api_key", "key", "signature", "sig"}
)
"""Query parameters whose values never reach the log (names compared case-insensitively)."""

REDACTED = "[REDACTED]"
TRUNCATED = "...[truncated]"


class QueryRedactor:
    """Render a raw query string for the log, with secret values replaced by ``[REDACTED]``.

    Parameter names are compared case-insensitively after percent-decoding (``%74oken`` is
    ``token``); the rest of the query is kept as it came, so the line shows what the client
    sent. Redaction happens on the whole query, then the result is cut at ``max_length``
    characters, so a secret past the cut can never be half-shown.
    """

    __slots__ = ("_max_length", "_names")

    def __init__(self, names: Iterable[str] = DEFAULT_REDACTED_PARAMS, *, max_length: int = 2048) -> None:
        if max_length < 16:
            raise ValueError(f"max_length={max_length} is too small (minimum 16)")
        self._names = frozenset(name.lower() for name in names)
        self._max_length = max_length

    def __call__(self, raw: bytes) -> str:
        text = raw.decode("latin-1")
        names = self._names
        if names:
            parts = text.split("&")
            changed = False
            for index, part in enumerate(parts):
                name, sep, _value = part.partition("=")
                if not sep:
                    continue
                if "%" in name or "+" in name:
                    name = unquote_plus(name, encoding="latin-1")
                if name.lower() in names:
                    parts[index] = f"{part[: part.index('=')]}={REDACTED}"
                    changed = True
            if changed:
                text = "&".join(parts)
        if len(text) > self._max_length:
            text = text[: self._max_length] + TRUNCATED
        return text
