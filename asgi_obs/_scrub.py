"""Value-based scrubbing: a request's secrets taken out of every string of a Sentry event."""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
from collections.abc import Callable, Collection, Iterable
from typing import Any
from urllib.parse import unquote

__all__ = ["MIN_SUBSTRING_LENGTH", "header_secrets", "scrub"]

MIN_SUBSTRING_LENGTH = 4
"""Secrets at least this long are replaced wherever they occur inside a string; shorter ones
only where a whole string equals them or they stand quoted (``'42'``, ``"42"``, ``b'42'``), since
replacing every ``42`` would scrub innocent text (line numbers, ids)."""

_WHOLE = (b"authorization", b"proxy-authorization", b"cookie", b"set-cookie")
_SECRET_HEADERS = frozenset(
    (*_WHOLE, b"x-api-key", b"x-auth-token", b"x-access-token", b"x-amz-security-token", b"x-csrf-token")
)
# Sentry's serializer cuts long strings and appends this (sentry-sdk 2.12 at 1024 characters).
_CUT_MARK = "..."
_MAX_DEPTH = 100


def header_secrets(headers: Iterable[tuple[bytes, bytes]]) -> tuple[str, ...]:
    """The secret values among a request's (or response's) headers, for :func:`scrub`.

    Called once per Sentry event. Whole values of ``Authorization``, ``Proxy-Authorization``,
    ``Cookie``, ``Set-Cookie``, ``X-Api-Key``, ``X-Auth-Token``, ``X-Access-Token``,
    ``X-Amz-Security-Token`` and ``X-CSRF-Token``; for the two authorizations also the credential
    after the scheme (``Bearer abc`` -> ``abc``), and for ``Basic`` the decoded ``user:password``
    and the password; for cookies each cookie's value, unquoted and percent-decoded too.
    """
    found: dict[str, None] = {}
    for raw_name, raw_value in headers:
        name = raw_name.lower() if isinstance(raw_name, bytes) else raw_name.lower().encode("latin-1")
        if name not in _SECRET_HEADERS:
            continue
        value = (raw_value.decode("latin-1") if isinstance(raw_value, bytes) else raw_value).strip()
        found[value] = None
        if name.endswith(b"authorization"):
            scheme, _, credential = value.partition(" ")
            credential = credential.strip()
            found[credential] = None
            if scheme.lower() == "basic":
                _add_basic(found, credential)
        elif name == b"cookie":
            for pair in value.split(";"):
                _add_cookie(found, pair)
        elif name == b"set-cookie":
            _add_cookie(found, value.partition(";")[0])
    found.pop("", None)
    return tuple(found)


def _add_basic(found: dict[str, None], credential: str) -> None:
    try:
        decoded = base64.b64decode(credential, validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return
    found[decoded] = None
    found[decoded.partition(":")[2]] = None


def _add_cookie(found: dict[str, None], pair: str) -> None:
    value = pair.partition("=")[2].strip()
    for form in (value, value.strip('"'), unquote(value.strip('"'), errors="replace")):
        found[form] = None


def scrub(obj: Any, secrets: Collection[str], replacement: str = "[Filtered]") -> Any:
    """``obj`` with every occurrence of each secret, in every string it holds, replaced.

    Walks dicts (keys and values), lists, tuples, strings and bytes; other objects are kept as
    they are, so call it on an event sentry-sdk has serialised (``before_send``: frame variables
    are ``repr()`` strings by then). Never mutates ``obj``: a container holding a changed string
    is copied, one holding none is returned as is. Each secret is also looked for in the forms a
    ``repr()`` or JSON of it takes (``b'Bearer abc'``, escaped quotes, UTF-8 bytes); for secrets
    shorter than :data:`MIN_SUBSTRING_LENGTH` see there. A string Sentry cut (ending ``...``) whose
    tail is the start of a secret loses that tail too.
    """
    needles: dict[str, str] = {}
    exact: set[str] = set()
    for secret in secrets:
        if not isinstance(secret, str) or not secret:
            continue
        for form in _forms(secret):
            if len(secret) >= MIN_SUBSTRING_LENGTH:
                needles[form] = replacement
            else:
                exact.add(form)
                for quote in ("'", '"'):
                    needles[f"{quote}{form}{quote}"] = f"{quote}{replacement}{quote}"
    if not needles:
        return obj
    # Longest first, so a secret holding another is replaced whole; a few plain substring
    # searches per string beat compiling a regex of fresh secrets for every event.
    table = sorted(needles.items(), key=lambda item: len(item[0]), reverse=True)
    heads = [needle for needle in needles if needle[0] not in "'\""]

    def text(value: str) -> str:
        if value in exact:
            return replacement
        for needle, new in table:
            if needle in value:
                value = value.replace(needle, new)
        if value.endswith(_CUT_MARK):
            value = _cut_tail(value, heads, replacement)
        return value

    return _walk(obj, text, 0)


def _forms(secret: str) -> dict[str, None]:
    """The secret and the spellings of it a repr() or JSON dump puts in an event."""
    forms = {secret: None, repr(secret)[1:-1]: None, json.dumps(secret)[1:-1]: None}
    forms[json.dumps(secret, ensure_ascii=False)[1:-1]] = None
    encoded = secret.encode("utf-8", "surrogatepass")
    forms[repr(encoded)[2:-1]] = None
    forms[encoded.decode("latin-1")] = None  # UTF-8 bytes walked as Latin-1 text
    with contextlib.suppress(UnicodeEncodeError):  # not Latin-1: no such bytes repr
        forms[repr(secret.encode("latin-1"))[2:-1]] = None
    return forms


def _cut_tail(value: str, heads: list[str], replacement: str) -> str:
    """Replace a secret's first characters left at the end of a string Sentry truncated."""
    body = value[: -len(_CUT_MARK)]
    longest = 0
    for needle in heads:
        start = max(0, len(body) - len(needle) + 1)
        while (start := body.find(needle[0], start)) >= 0:
            if needle.startswith(body[start:]):
                longest = max(longest, len(body) - start)
                break
            start += 1
    if not longest:
        return value
    return body[:-longest] + replacement + _CUT_MARK


def _walk(obj: Any, text: Callable[[str], str], depth: int) -> Any:
    if isinstance(obj, str):
        return text(obj)
    if depth > _MAX_DEPTH:
        return obj  # deeper than any event sentry-sdk serialises; a cycle in live objects
    if isinstance(obj, (bytes, bytearray)):
        decoded = obj.decode("latin-1")
        scrubbed = text(decoded)
        return obj if scrubbed == decoded else scrubbed.encode("latin-1", "replace")
    if isinstance(obj, dict):
        changed = False
        items = []
        for key, value in obj.items():
            new_key, new_value = _walk(key, text, depth + 1), _walk(value, text, depth + 1)
            changed = changed or new_key is not key or new_value is not value
            items.append((new_key, new_value))
        return dict(items) if changed else obj
    if isinstance(obj, (list, tuple)):
        values = [_walk(value, text, depth + 1) for value in obj]
        if all(new is old for new, old in zip(values, obj, strict=True)):
            return obj
        return values if isinstance(obj, list) else tuple(values)
    return obj
