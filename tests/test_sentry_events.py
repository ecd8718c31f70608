"""What a Sentry event carries: the request's fields, a readable access breadcrumb, no secret."""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Any

import pytest
import sentry_sdk
from sentry_sdk.integrations.logging import LoggingIntegration

from asgi_obs import bind, build_stack, init_sentry
from asgi_obs.redaction import DEFAULT_REDACTED_PARAMS

from . import sentry_support
from .asgi import call, http_scope
from .conftest import LogCapture

pytestmark = [pytest.mark.anyio, pytest.mark.sentry]
log = logging.getLogger("test.events")

TOKEN = "Bearer eyJhbGciOi.s3cr3t-b34rer"
COOKIE = "session=c00kie-v4lue-123"
QUERY = b"access_token=qu3ry-t0ken-456&sessionkey=s3ss-k3y-789&page=2"
SECRETS = ("eyJhbGciOi.s3cr3t-b34rer", "c00kie-v4lue-123", "qu3ry-t0ken-456", "s3ss-k3y-789")


def _pii(on: bool) -> dict[str, Any]:
    # send_default_pii: deprecated on recent sentry-sdk (for data_collection), the only switch on 2.12.
    return {"send_default_pii": True} if on else {}


PII_DEPRECATED = pytest.mark.filterwarnings("ignore:The send_default_pii option is deprecated")


def _scope(path: str, *, query: bytes = QUERY, extra: list[tuple[bytes, bytes]] | None = None) -> Any:
    headers = [
        (b"host", b"test"),
        (b"authorization", TOKEN.encode()),
        (b"cookie", COOKIE.encode()),
        (b"x-request-id", b"evt-1"),
        *(extra or []),
    ]
    return http_scope(path, headers=headers, query=query)


def starlette_app() -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def boom(request: Request) -> PlainTextResponse:
        headers = request.scope["headers"]  # a frame local holding the raw secrets
        log.info("about to fail for %s", request.headers.get("authorization"))
        bind(user_id=42, plan="pro")
        raise RuntimeError(f"boom with {len(headers)} headers")

    async def returned(request: Request) -> PlainTextResponse:
        bind(user_id=42, plan="pro")
        return PlainTextResponse("no", status_code=503)

    return Starlette(routes=[Route("/boom", boom), Route("/returned", returned)])


@PII_DEPRECATED
@pytest.mark.parametrize("send_default_pii", [False, True])
@pytest.mark.parametrize("path", ["/boom", "/returned"])
async def test_no_secret_anywhere_in_the_event(logs: LogCapture, path: str, send_default_pii: bool) -> None:
    """Authorization, Cookie and redacted query values appear nowhere: request, frames, crumbs."""
    transport = sentry_support.MemoryTransport()
    sentry_support.init(
        transport,
        integrations=[LoggingIntegration(level=logging.INFO, event_level=logging.ERROR)],
        **_pii(send_default_pii),
    )
    app = build_stack(starlette_app(), redact_query_params=DEFAULT_REDACTED_PARAMS | {"sessionkey"})
    await call(app, _scope(path))
    (event,) = transport.events
    text = json.dumps(event)
    assert "frames" in text if path == "/boom" else "Server error response" in text
    for secret in SECRETS:
        assert secret not in text, secret
    assert event["request"]["query_string"] == "access_token=[REDACTED]&sessionkey=[REDACTED]&page=2"


async def test_bound_fields_reach_the_event(logs: LogCapture) -> None:
    """bind() fields: scalars as tags, all of them in the ``bound_fields`` context."""
    transport = sentry_support.MemoryTransport()
    sentry_support.init(transport)
    app = build_stack(starlette_app())
    await call(app, _scope("/returned"))
    (event,) = transport.events
    assert event["tags"]["user_id"] == "42" and event["tags"]["plan"] == "pro"
    assert event["contexts"]["bound_fields"] == {"user_id": 42, "plan": "pro"}


async def test_access_breadcrumb_keeps_what_matters(logs: LogCapture) -> None:
    """The access record's breadcrumb keeps status, outcome, duration, ids within Sentry's 10 keys."""
    transport = sentry_support.MemoryTransport()
    sentry_support.init(transport)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        bind(user_id=7)
        await send({"type": "http.response.start", "status": 500, "headers": []})
        await send({"type": "http.response.body", "body": b"x"})

    # The failing request's own access record is written before its event is captured.
    await call(build_stack(app), http_scope("/second", headers=[(b"x-request-id", b"crumb-1")]))
    (event,) = transport.events
    (crumb,) = [c for c in event["breadcrumbs"]["values"] if c.get("message") == "GET /second 500"]
    data = crumb["data"]
    assert len(data) <= 10
    assert data["status"] == 500 and data["outcome"] == "server_error" and data["method"] == "GET"
    assert data["request_id"] == "crumb-1" and data["trace_id"] == event["contexts"]["trace"]["trace_id"]
    assert data["path"] == "/second" and isinstance(data["duration_ms"], float)
    assert data["user_id"] == 7


@PII_DEPRECATED
@pytest.mark.parametrize("sent", [None, b"4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1"])
async def test_event_headers_are_the_clients(logs: LogCapture, sent: bytes | None) -> None:
    """The ``sentry-trace`` the layer hands to Sentry's inner middleware is not shown as the client's."""
    transport = sentry_support.MemoryTransport()
    sentry_support.init(transport, **_pii(True))
    app = build_stack(starlette_app())
    await call(app, _scope("/boom", extra=[(b"sentry-trace", sent)] if sent else None))
    (event,) = transport.events
    headers = {k.lower(): v for k, v in event["request"].get("headers", {}).items()}
    if sent is None:
        assert "sentry-trace" not in headers
    else:
        assert headers["sentry-trace"] == sent.decode()


def test_spotlight_alone_sends_events_with_the_logs_trace(
    logs: LogCapture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SENTRY_SPOTLIGHT without a DSN: init_sentry() is on, events reach the sidecar, trace ids agree."""
    import anyio

    monkeypatch.delenv("SENTRY_DSN", raising=False)
    sink = sentry_support.EnvelopeSink()
    with sink.running():
        monkeypatch.setenv("SENTRY_SPOTLIGHT", f"http://127.0.0.1:{sink.port}/stream")
        assert init_sentry(disabled_integrations=[sentry_support.HttpxIntegration()])
        try:

            async def boom(scope: Any, receive: Any, send: Any) -> None:
                raise RuntimeError("seen locally")

            anyio.run(call, build_stack(boom), http_scope("/x", headers=[(b"x-request-id", b"spot-1")]))
            sentry_sdk.flush(timeout=5)
            deadline = time.monotonic() + 5
            while not sink.events and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            sentry_support.init(sentry_support.MemoryTransport())
    (event,) = [e for e in sink.events if e.get("tags", {}).get("request_id") == "spot-1"]
    (error,) = logs.errors()
    assert event["contexts"]["trace"]["trace_id"] == error["trace_id"]
    assert os.environ.get("SENTRY_DSN") is None


async def test_response_set_cookie_value_never_in_the_event(logs: LogCapture) -> None:
    """A Set-Cookie value the response carried is scrubbed from the event (here: a breadcrumb)."""
    transport = sentry_support.MemoryTransport()
    sentry_support.init(transport)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        log.info("issued session n3w-s3ss10n-c00kie")
        headers = [(b"set-cookie", b"sid=n3w-s3ss10n-c00kie; Path=/; HttpOnly")]
        await send({"type": "http.response.start", "status": 500, "headers": headers})
        await send({"type": "http.response.body", "body": b"x"})

    await call(build_stack(app), http_scope("/cookie"))
    (event,) = transport.events
    text = json.dumps(event)
    assert "issued session" in text
    assert "n3w-s3ss10n-c00kie" not in text


@PII_DEPRECATED
async def test_outer_sentry_middleware_transaction_carries_no_secret(logs: LogCapture) -> None:
    """SentryAsgiMiddleware outside the stack sends its transaction after the stack returned: scrubbed too."""
    from sentry_sdk.envelope import Envelope
    from sentry_sdk.integrations.asgi import SentryAsgiMiddleware

    sent: list[dict[str, Any]] = []

    class Transactions(sentry_support.MemoryTransport):
        def capture_envelope(self, envelope: Envelope) -> None:
            for item in envelope.items:
                payload = item.get_transaction_event() or item.get_event()
                if payload is not None:
                    sent.append(payload)

    sentry_support.init(Transactions(), traces_sample_rate=1.0, **_pii(True))

    async def ok(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    stack = build_stack(ok, redact_query_params=DEFAULT_REDACTED_PARAMS | {"sessionkey"})
    await call(SentryAsgiMiddleware(stack), _scope("/ok"))
    (transaction,) = [event for event in sent if event.get("type") == "transaction"]
    text = json.dumps(transaction)
    assert "request" in transaction
    for secret in SECRETS:
        assert secret not in text, secret
