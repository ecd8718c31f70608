"""Value-based scrubbing: a request's secrets vanish from every string of a Sentry event."""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

import pytest
import sentry_sdk

from asgi_obs.redaction import QueryRedactor, header_secrets, scrub

from . import sentry_support

HEADERS = [
    (b"host", b"api.example"),
    (b"Authorization", b"Bearer abc.def.ghi"),
    (b"cookie", b'session=c00kie-v4lue; theme="dark%20blue"'),
    (b"user-agent", b"curl/8"),
]
QUERY = b"page=2&token=tok3n-value&code=42"


def secrets() -> tuple[str, ...]:
    return header_secrets(HEADERS) + QueryRedactor().secret_values(QUERY)


def event() -> dict[str, Any]:
    """An event the shape sentry-sdk hands before_send (frame variables already repr()'d)."""
    scope_repr = repr({"type": "http", "headers": HEADERS, "query_string": QUERY})
    return {
        "message": "failed with Bearer abc.def.ghi",
        "logentry": {"message": "token %s", "params": ["tok3n-value"]},
        "request": {
            "url": "http://api.example/items",
            "query_string": "page=2&token=tok3n-value&code=42",
            "data": {"password": "not-a-request-secret", "note": "tok3n-value inside"},
            "cookies": {"session": "c00kie-v4lue", "theme": "dark blue"},
        },
        "exception": {
            "values": [
                {"stacktrace": {"frames": [{"lineno": 42, "vars": {"scope": scope_repr, "code": "'42'"}}]}}
            ]
        },
        "breadcrumbs": {"values": [{"message": "GET /items?token=tok3n-value", "data": {"n": 42}}]},
        "extra": {"headers": repr(dict(HEADERS)), "count": 42, "raw": b"x-c00kie-v4lue-x"},
    }


def test_header_secrets() -> None:
    """Whole values, the credential after the scheme, each cookie value (unquoted and decoded)."""
    found = header_secrets(HEADERS)
    assert {"Bearer abc.def.ghi", "abc.def.ghi", "c00kie-v4lue", '"dark%20blue"', "dark blue"} <= set(found)
    assert not {"api.example", "curl/8", "session", "theme", ""} & set(found)


def test_header_secrets_basic_set_cookie_and_others() -> None:
    """Basic credentials decoded (user:password and password); Set-Cookie's value; X-Api-Key."""
    basic = base64.b64encode(b"alice:pa55word").decode()
    found = set(
        header_secrets(
            [
                (b"proxy-authorization", f"Basic {basic}".encode()),
                (b"set-cookie", b"sid=s1d-value; Path=/; HttpOnly"),
                (b"x-api-key", b"k3y-value"),
                (b"x-request-id", b"not-secret"),
            ]
        )
    )
    assert {basic, "alice:pa55word", "pa55word", "s1d-value", "k3y-value"} <= found
    assert not {"Path=/", "HttpOnly", "not-secret"} & found


def test_scrub_event_shapes() -> None:
    """Request data, frame vars holding a repr of ASGI headers, breadcrumbs, extra, message, logentry."""
    original = event()
    kept = copy.deepcopy(original)
    scrubbed = scrub(original, secrets())
    text = json.dumps(scrubbed, default=repr)
    for secret in ("abc.def.ghi", "c00kie-v4lue", "dark%20blue", "dark blue", "tok3n-value", "'42'"):
        assert secret not in text
    frame = scrubbed["exception"]["values"][0]["stacktrace"]["frames"][0]
    assert "(b'Authorization', b'[Filtered]')" in frame["vars"]["scope"]
    assert "b'page=2&token=[Filtered]&[Filtered]'" in frame["vars"]["scope"]
    assert frame["lineno"] == 42 and frame["vars"]["code"] == "'[Filtered]'"
    assert scrubbed["request"]["data"] == {"password": "not-a-request-secret", "note": "[Filtered] inside"}
    assert scrubbed["extra"]["count"] == 42 and scrubbed["extra"]["raw"] == b"x-[Filtered]-x"
    assert scrubbed["breadcrumbs"]["values"][0] == {
        "message": "GET /items?token=[Filtered]",
        "data": {"n": 42},
    }
    assert "api.example" in text and "curl/8" in text
    assert original == kept  # the input is never mutated


def test_short_secrets_exact_or_quoted_only() -> None:
    """A secret under 4 characters replaces whole strings and quoted reprs, not innocent text."""
    out = scrub({"a": "42", "b": "line 42 of 420", "c": "{'code': '42'}", "d": 'b"42"'}, ["42"])
    assert out == {
        "a": "[Filtered]",
        "b": "line 42 of 420",
        "c": "{'code': '[Filtered]'}",
        "d": 'b"[Filtered]"',
    }


def test_repr_and_json_forms() -> None:
    """A secret with quotes, backslashes or non-ASCII is found in its repr(), bytes and JSON spellings."""
    secret = "pa'ss\\wörd"
    holders = [
        repr(secret),
        repr(secret.encode()),
        json.dumps(secret),
        json.dumps(secret, ensure_ascii=False),
    ]
    out = scrub(holders, [secret])
    assert all("[Filtered]" in held and "ss" not in held for held in out)


def test_truncated_tail() -> None:
    """A string Sentry cut inside a secret ("...") loses the secret's head too."""
    assert scrub("header: Bearer abc.de...", ["Bearer abc.def.ghi"]) == "header: [Filtered]..."
    assert scrub("ends innocently...", ["Bearer abc.def.ghi"]) == "ends innocently..."


def test_unchanged_is_same_object_and_others_kept() -> None:
    """Nothing to replace: the very same object back; numbers, None and objects left alone."""
    holder = {"a": ["x", ("y", 1, None)], "b": object()}
    assert scrub(holder, ["s3cret"]) is holder
    assert scrub(holder, []) is holder
    assert scrub("s3cret", [""]) == "s3cret"
    assert scrub(("s3cret", 1), ["s3cret"], replacement="***") == ("***", 1)


@pytest.mark.sentry
def test_real_sentry_event_scrubbed_in_before_send() -> None:
    """Through real sentry-sdk: an exception whose frame holds the ASGI headers sends no secret."""
    transport = sentry_support.MemoryTransport()
    found = secrets()
    sentry_support.init(transport, before_send=lambda event, hint: scrub(event, found))
    try:
        scope = {"type": "http", "headers": HEADERS, "query_string": QUERY}  # a frame variable
        try:
            raise RuntimeError(f"failed for {scope['query_string']!r}")
        except RuntimeError:
            sentry_sdk.capture_exception()
        sentry_sdk.add_breadcrumb(message="never sent")
    finally:
        sentry_support.init(sentry_support.MemoryTransport())
    (sent,) = transport.events
    text = json.dumps(sent)
    assert "RuntimeError" in text and "b'[Filtered]'" in text and "b'curl/8'" in text  # vars were sent
    for secret in ("abc.def.ghi", "c00kie-v4lue", "tok3n-value", "code=42", "dark%20blue"):
        assert secret not in text
