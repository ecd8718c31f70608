"""What of a request may reach the logs and Sentry: redacted query strings, the secret values to scrub."""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import unquote, unquote_plus

from ._scrub import MIN_SUBSTRING_LENGTH, header_secrets, scrub

__all__ = [
    "DEFAULT_REDACTED_PARAMS",
    "MIN_SUBSTRING_LENGTH",
    "QueryRedactor",
    "header_secrets",
    "scrub",
]

DEFAULT_REDACTED_PARAMS = frozenset(
    {
        # the first list, kept
        *("token", "access_token", "code", "password", "secret", "api_key", "key", "signature", "sig"),
        # OAuth / OpenID / SAML / CAS
        *("client_secret", "refresh_token", "id_token", "id_token_hint", "client_assertion"),
        *("code_verifier", "device_code", "oauth_token", "oauth_verifier", "samlresponse", "ticket"),
        # cloud signed URLs (AWS SigV4, Google, Azure SAS, Sentry's own envelope auth)
        *("x-amz-signature", "x-amz-security-token", "x-amz-credential", "x-goog-signature"),
        *("x-goog-credential", "sas", "sentry_key"),
        # auth and sessions
        *("auth", "authorization", "bearer", "jwt", "session", "sessionid", "sid", "jsessionid"),
        *("phpsessid", "credential", "credentials"),
        # keys and passwords
        *("apikey", "api-key", "private_key", "secret_key", "access_key", "app_key", "passwd"),
        *("pwd", "pass", "passphrase", "otp", "totp", "pin", "cvv", "cvc"),
        # suffix patterns: any name ending like this (github_token, db_password, x-amz-signature)
        *("*token", "*secret", "*password", "*passwd", "*signature", "*credential", "*credentials"),
        *("*apikey", "*privatekey", "*secretkey", "*accesskey", "*sessionid", "*session"),
    }
)
"""Query parameters whose values never reach the logs: names compared in canonical form (case,
``-``, ``_`` and spaces ignored, so ``api_key``, ``api-key``, ``apiKey`` and ``API KEY`` are one
name); an entry starting with ``*`` matches every name ending with the rest (``*token`` covers
``csrf_token``). Extend it with ``DEFAULT_REDACTED_PARAMS | {"session_key"}``."""

REDACTED = "[REDACTED]"
TRUNCATED = "...[truncated]"

_NOT_ALNUM = re.compile(r"[^0-9a-z]+")
# Where a parameter name splits into components that are matched one by one: PHP/Rails/qs
# brackets (token[], user[password], token[0]), Spring's dots (user.password), and the
# separators a decoded name may still hold (x%26token).
_COMPONENTS = re.compile(r"[\[\].&;=,]")
# An encoded "=", "&" or ";" (double encoding too: %253D): an assignment hidden in one token.
_ENCODED_SEPARATOR = re.compile(r"%(?:25)*(?:3[dDbB]|26)")
# The separators of a query nested in a value once decoded (next=/cb?token=x).
_NESTED = re.compile(r"[&;?#]")
# The name of each "&"-separated part that has a value, found in one C-level scan.
_NAMES = re.compile(r"([^&=]*)=[^&]*")
_CACHE_SIZE = 1024


def _canonical(component: str) -> str:
    return _NOT_ALNUM.sub("", component.lower())


def _decode(text: str, encoding: str = "latin-1") -> str:
    """Percent- and plus-decode until nothing changes (double encoding included), four rounds at most."""
    for _ in range(4):
        if "%" not in text and "+" not in text:
            break
        decoded = unquote_plus(text, encoding=encoding, errors="replace")
        if decoded == text:
            break
        text = decoded
    return text


class QueryRedactor:
    """Render a raw query string for the log, with secret values replaced by ``[REDACTED]``.

    Built once per layer (the names are compiled here); called once per request with a query.
    Parameters are found at ``&`` and at ``;`` (so ``a=1;token=x`` and an HTML-escaped
    ``&amp;token=x`` are caught); a name is percent- and plus-decoded (``%74oken``, ``token+``,
    ``token%20``, ``token%5B%5D``), split at brackets and dots, and secret when any component
    is in ``names`` (see :data:`DEFAULT_REDACTED_PARAMS` for the comparison). The redacted
    value runs from the ``=`` to the next ``&``, so whatever a parser takes the value to be, it
    is hidden; a value that decodes to a query holding a secret (``next=%2Fcb%3Ftoken%3Dx``)
    is hidden whole. Everything else is kept as it came. The result is cut at ``max_length``
    characters after redaction, so a secret past the cut can never be half-shown.
    """

    __slots__ = ("_cache", "_exact", "_innocent", "_max_length", "_suffixes")

    def __init__(self, names: Iterable[str] = DEFAULT_REDACTED_PARAMS, *, max_length: int = 2048) -> None:
        if isinstance(names, (str, bytes)):
            raise ValueError("redact_query_params must be a collection of names, not one string")
        if max_length < 16:
            raise ValueError(f"max_length={max_length} is too small (minimum 16)")
        exact: set[str] = set()
        suffixes: set[str] = set()
        for name in names:
            if not isinstance(name, str):
                raise ValueError(f"redact_query_params: {name!r} is not a string")
            pattern = name.startswith("*")
            canonical = _canonical(name[1:] if pattern else name)
            if not canonical:
                raise ValueError(f"redact_query_params: {name!r} has no letter or digit")
            (suffixes if pattern else exact).add(canonical)
        self._exact = frozenset(exact)
        self._suffixes = tuple(sorted(suffixes))
        self._max_length = max_length
        # raw name -> secret?  A service sees few distinct names, so after warm-up the common
        # query costs one dict lookup per parameter; cleared when full (hostile random names).
        self._cache: dict[str, bool] = {}
        self._innocent: set[str] = set()  # the names of the cache that are not secret

    def is_secret(self, name: str) -> bool:
        """Whether a parameter name, as sent (still percent-encoded), names a secret."""
        secret = self._cache.get(name)
        if secret is None:
            secret = False
            for component in _COMPONENTS.split(_decode(name)):
                canonical = _canonical(component)
                if canonical and (canonical in self._exact or canonical.endswith(self._suffixes)):
                    secret = True
                    break
            if len(self._cache) >= _CACHE_SIZE:
                self._cache.clear()
                self._innocent.clear()
            self._cache[name] = secret
            if not secret:
                self._innocent.add(name)
        return secret

    def __call__(self, raw: bytes) -> str:
        text = raw.decode("latin-1")
        if self._exact or self._suffixes:
            encoded = "%" in text and _ENCODED_SEPARATOR.search(text) is not None
            if not encoded and ";" not in text:
                # The common query, in C-level calls only: one "=" per part and every name
                # already known innocent.
                names = _NAMES.findall(text)
                if len(names) == text.count("=") and self._innocent.issuperset(names):
                    return text if len(text) <= self._max_length else self._cut(text)
            text = self._redact(text, encoded)
        return self._cut(text)

    def _redact(self, text: str, encoded: bool) -> str:
        parts = text.split("&")
        changed = False
        cached = self._cache.get
        for index, part in enumerate(parts):
            equals = part.find("=")
            if equals < 0 and not encoded:
                continue  # a bare flag: no value to hide
            if encoded or ";" in part or part.find("=", equals + 1) >= 0:
                redacted = self._redact_part(part)  # a separator or an assignment hidden inside
                if redacted is not None:
                    parts[index] = redacted
                    changed = True
                continue
            name = part[:equals]
            secret = cached(name)
            if secret or (secret is None and self.is_secret(name)):
                parts[index] = f"{name}={REDACTED}"
                changed = True
        return "&".join(parts) if changed else text

    def _cut(self, text: str) -> str:
        if len(text) > self._max_length:
            return text[: self._max_length] + TRUNCATED
        return text

    def _redact_part(self, part: str) -> str | None:
        """One ``&``-separated part with its secret (if any) cut off, else None."""
        pieces = part.split(";")
        for index, piece in enumerate(pieces):
            name, equals, value = piece.partition("=")
            if (equals and self.is_secret(name)) or self._hides_secret(value):
                kept = f"{name}={REDACTED}"
            elif self._hides_secret(name):
                kept = REDACTED
            else:
                continue
            return ";".join([*pieces[:index], kept])
        return None

    def _hides_secret(self, text: str, depth: int = 0) -> bool:
        """Whether ``text``, decoded, is a query assigning a secret (a redirect target, say)."""
        if "=" not in text and "%" not in text:
            return False
        decoded = _decode(text)
        if "=" not in decoded:
            return False
        for piece in _NESTED.split(decoded):
            name, equals, value = piece.partition("=")
            if equals and (self.is_secret(name) or (depth < 3 and self._hides_secret(value, depth + 1))):
                return True
        return False

    def secret_values(self, raw: bytes) -> tuple[str, ...]:
        """Every value the redaction of ``raw`` hides, for :func:`scrub` (once per Sentry event).

        Each value as sent and percent/plus-decoded (UTF-8 and Latin-1) when different; also the
        value up to the first ``;`` (what a ``;``-splitting parser takes), the whole of a value
        hiding a nested query plus that query's secrets, and, for values shorter than
        :data:`MIN_SUBSTRING_LENGTH`, the pair ``name=value`` as sent (so a short code is still
        scrubbed from a raw query string inside a frame's variables).
        """
        found: dict[str, None] = {}
        for part in raw.decode("latin-1").split("&"):
            pieces = part.split(";")
            for index, piece in enumerate(pieces):
                name, equals, value = piece.partition("=")
                if (equals and self.is_secret(name)) or self._hides_secret(value):
                    rest = ";".join([value, *pieces[index + 1 :]])
                    for sent in (rest, value):
                        _add_decoded(found, sent)
                        if 0 < len(sent) < MIN_SUBSTRING_LENGTH:
                            found[f"{name}={sent}"] = None
                    self._nested_values(rest, found, 0)
                    break
                if self._hides_secret(name):
                    _add_decoded(found, ";".join(pieces[index:]))
                    self._nested_values(name, found, 0)
                    break
        found.pop("", None)
        return tuple(found)

    def _nested_values(self, text: str, found: dict[str, None], depth: int) -> None:
        if depth > 3 or ("=" not in text and "%" not in text):
            return
        for piece in _NESTED.split(_decode(text)):
            name, equals, value = piece.partition("=")
            if equals and self.is_secret(name):
                _add_decoded(found, value)
            elif equals:
                self._nested_values(value, found, depth + 1)


def _add_decoded(found: dict[str, None], sent: str) -> None:
    found[sent] = None
    for decoded in (
        unquote_plus(sent, errors="replace"),
        unquote(sent, errors="replace"),
        _decode(sent, "utf-8"),
        _decode(sent),
        sent.encode("latin-1").decode("utf-8", "replace"),  # raw UTF-8 bytes, read as UTF-8
    ):
        found[decoded] = None
