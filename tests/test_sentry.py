"""Sentry glue: breadcrumbs, trace continuation, init_sentry(), outages, and life without Sentry."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import subprocess
import sys
import threading
from typing import Any

import pytest
import sentry_sdk
from sentry_sdk.integrations.asgi import SentryAsgiMiddleware
from sentry_sdk.integrations.logging import LoggingIntegration

import asgi_obs.sentry
from asgi_obs import SuppressUnwantedLogsFilter, build_stack, init_sentry, init_structured_logging

from . import sentry_apps, sentry_support
from .asgi import call, http_scope
from .conftest import LogCapture

pytestmark = [pytest.mark.anyio, pytest.mark.sentry]
log = logging.getLogger("test.sentry")
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = "00f067aa0ba902b7"


async def login_then_fail(scope: Any, receive: Any, send: Any) -> None:
    log.info("User logged in", extra={"user_id": 5})
    log.info("health noise", extra={"noise": True})
    raise RuntimeError("after login")


async def test_info_logs_become_breadcrumbs_with_their_data(logs: LogCapture) -> None:
    """logger.info(..., extra={"user_id": 5}) is a breadcrumb with data.user_id == 5."""
    transport = sentry_support.MemoryTransport()
    sentry_support.init(transport)
    await call(build_stack(login_then_fail))
    (event,) = transport.events
    (crumb,) = [c for c in event["breadcrumbs"]["values"] if c.get("message") == "User logged in"]
    assert crumb["data"]["user_id"] == 5
    assert crumb["category"] == "test.sentry"


async def test_suppressed_records_are_not_breadcrumbs(monkeypatch: pytest.MonkeyPatch) -> None:
    """A record SuppressUnwantedLogsFilter drops from the output is not a breadcrumb either."""
    monkeypatch.setenv("SENTRY_DSN", "http://public@127.0.0.1:9/1")
    import io

    init_structured_logging(stream=io.StringIO(), suppress=SuppressUnwantedLogsFilter(patterns=["noise"]))
    transport = sentry_support.MemoryTransport()
    assert init_sentry(transport=transport, disabled_integrations=[sentry_support.HttpxIntegration()])
    await call(build_stack(login_then_fail))
    (event,) = transport.events
    messages = [c.get("message") for c in event["breadcrumbs"]["values"]]
    assert "User logged in" in messages
    assert "health noise" not in messages


async def test_access_records_never_become_events(logs: LogCapture) -> None:
    """Even with event_level=WARNING, the WARNING access record of a 500 is not an event."""
    transport = sentry_support.MemoryTransport()
    sentry_support.init(
        transport, integrations=[LoggingIntegration(level=logging.INFO, event_level=logging.WARNING)]
    )
    result = await call(build_stack(sentry_apps.raw_app), http_scope(path="/returned-500"))
    assert result.status == 500
    assert len(transport.events) == 1
    assert transport.events[0]["logger"] == "asgi_obs.error"


# Incoming trace headers are continued: the event and the log lines share the caller's trace.
@pytest.mark.parametrize(
    "header",
    [(b"traceparent", f"00-{TRACE}-{SPAN}-01".encode()), (b"sentry-trace", f"{TRACE}-{SPAN}-1".encode())],
    ids=["traceparent", "sentry-trace"],
)
@pytest.mark.parametrize("kind", ["raw", "starlette"])
async def test_incoming_trace_is_continued(logs: LogCapture, kind: str, header: tuple[bytes, bytes]) -> None:
    """The event's trace id is the incoming one, and so is the log lines'."""
    transport = sentry_support.MemoryTransport()
    sentry_support.init(transport)
    app = build_stack(sentry_apps.raw_app if kind == "raw" else sentry_apps.starlette_app())
    await call(app, http_scope(path="/raise", headers=[header]))
    (event,) = transport.events
    assert event["contexts"]["trace"]["trace_id"] == TRACE
    assert {line["trace_id"] for line in logs.lines()} == {TRACE}


@pytest.mark.parametrize("outer_sentry_middleware", [False, True])
async def test_head_requests_get_distinct_traces(logs: LogCapture, outer_sentry_middleware: bool) -> None:
    """Sentry's middleware skips HEAD; each HEAD request still gets its own trace id."""
    transport = sentry_support.MemoryTransport()
    sentry_support.init(transport)
    app = build_stack(sentry_apps.starlette_app())
    if outer_sentry_middleware:
        app = SentryAsgiMiddleware(app)
    for number in range(2):
        scope = http_scope(
            path="/returned-500", method="HEAD", headers=[(b"x-request-id", f"head-{number}".encode())]
        )
        await call(app, scope)
    assert len(transport.events) == 2
    trace_ids = [event["contexts"]["trace"]["trace_id"] for event in transport.events]
    assert trace_ids[0] != trace_ids[1]
    for event in transport.events:
        request_id = event["tags"]["request_id"]
        lines = {line["trace_id"] for line in logs.lines() if line["request_id"] == request_id}
        assert lines == {event["contexts"]["trace"]["trace_id"]}


async def test_sentry_middleware_outside_ours_is_reused(logs: LogCapture) -> None:
    """With SentryAsgiMiddleware outermost, failures still give one event with our request id."""
    transport = sentry_support.MemoryTransport()
    sentry_support.init(transport)
    app = SentryAsgiMiddleware(build_stack(sentry_apps.raw_app))
    result = await call(app, http_scope(path="/raise", headers=[(b"x-request-id", b"outer-1")]))
    assert result.status == 500
    (event,) = transport.events
    assert event["tags"]["request_id"] == "outer-1"
    assert {line["trace_id"] for line in logs.lines()} == {event["contexts"]["trace"]["trace_id"]}


async def test_user_before_send_chained_not_replaced(
    monkeypatch: pytest.MonkeyPatch, logs: LogCapture
) -> None:
    """init_sentry() runs our hook first, then the user's, which may still drop events."""
    monkeypatch.setenv("SENTRY_DSN", "http://public@127.0.0.1:9/1")
    monkeypatch.setenv("SENTRY_ENVIRONMENT", "staging")
    monkeypatch.setenv("SENTRY_RELEASE", "billing@1.2.3")
    seen: list[str] = []

    def user_hook(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any] | None:
        seen.append(event["tags"]["request_id"])
        return None if event["tags"]["request_id"] == "drop-me" else event

    transport = sentry_support.MemoryTransport()
    assert init_sentry(
        transport=transport, before_send=user_hook, disabled_integrations=[sentry_support.HttpxIntegration()]
    )
    app = build_stack(sentry_apps.raw_app)
    await call(app, http_scope(path="/raise", headers=[(b"x-request-id", b"keep-me")]))
    await call(app, http_scope(path="/raise", headers=[(b"x-request-id", b"drop-me")]))
    assert seen == ["keep-me", "drop-me"]
    (event,) = transport.events
    assert (event["environment"], event["release"]) == ("staging", "billing@1.2.3")
    logging_integration = sentry_sdk.get_client().get_integration(LoggingIntegration)
    assert logging_integration is not None


def test_init_sentry_without_dsn_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """No SENTRY_DSN: init_sentry() returns False and leaves the current client alone."""
    monkeypatch.delenv("SENTRY_DSN", raising=False)
    sentry_support.disable()
    before = sentry_sdk.get_client()
    assert init_sentry() is False
    assert sentry_sdk.get_client() is before


def test_init_sentry_rejects_a_bad_sample_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    """SENTRY_TRACES_SAMPLE_RATE must be a number in [0, 1]."""
    monkeypatch.setenv("SENTRY_DSN", "http://public@127.0.0.1:9/1")
    for bad in ("often", "1.5", "-0.1"):
        monkeypatch.setenv("SENTRY_TRACES_SAMPLE_RATE", bad)
        with pytest.raises(ValueError, match="SENTRY_TRACES_SAMPLE_RATE"):
            init_sentry()


async def test_hand_configured_before_send(logs: LogCapture) -> None:
    """asgi_obs.sentry.before_send in a hand-made init keeps one event per failure."""
    transport = sentry_support.MemoryTransport()
    sentry_support.init(transport, before_send=asgi_obs.sentry.before_send, dedupe=False)
    await call(build_stack(sentry_apps.starlette_app()), http_scope(path="/logged-reraise"))
    assert len(transport.events) == 1


# --- outages: Sentry down, failing or hanging must not fail or block requests -----------------


@pytest.mark.parametrize("mode", ["dead-port", "error", "hang"])
async def test_sentry_outage_never_hurts_requests(logs: LogCapture, mode: str, free_port: Any) -> None:
    """Requests complete while the sink is down, answers 500, or holds every connection open."""
    release = threading.Event()
    sink = sentry_support.EnvelopeSink({"dead-port": "ok"}.get(mode, mode), release)
    with sink.running():
        dsn = f"http://public@127.0.0.1:{free_port()}/1" if mode == "dead-port" else sink.dsn
        sentry_support.init(dsn=dsn)
        app = build_stack(sentry_apps.raw_app)
        first = await asyncio.gather(*(call(app, http_scope(path="/raise")) for _ in range(5)))
        if mode == "hang":
            for _ in range(200):  # until Sentry's worker is stuck inside the sink
                if sink.hanging:
                    break
                await asyncio.sleep(0.025)
            assert sink.hanging == 1
        second = await asyncio.gather(*(call(app, http_scope(path="/raise")) for _ in range(5)))
        if mode == "hang":
            # Still stuck: these requests did not wait for Sentry (a blocking capture would have
            # waited out the sink's 10 s hold, after which nothing hangs any more).
            assert sink.hanging == 1
        release.set()
        sentry_support.close_http_transport()
    assert [r.status for r in first + second] == [500] * 10
    assert len(logs.errors()) == 10
    if mode == "error":
        assert sink.requests >= 1


def test_init_sentry_sends_through_the_quiet_transport_unless_one_is_chosen() -> None:
    """init_sentry() picks QuietHttpTransport; a transport= of the caller's is kept as given."""
    from asgi_obs.sentry.transport import QuietHttpTransport

    options = {
        "dsn": "http://public@127.0.0.1:9/1",
        "disabled_integrations": [sentry_support.HttpxIntegration()],
    }
    assert init_sentry(**options)
    assert type(sentry_sdk.get_client().transport) is QuietHttpTransport
    sentry_support.close_http_transport()
    mine = sentry_support.MemoryTransport()
    assert init_sentry(transport=mine, **options)
    assert sentry_sdk.get_client().transport is mine


# --- without Sentry ---------------------------------------------------------------------------


def _observable(results: list[Any], logs: LogCapture) -> list[Any]:
    lines = [
        {k: v for k, v in line.items() if k not in ("timestamp", "trace_id", "duration_ms", "exc_info")}
        for line in logs.lines()
    ]
    return [[(r.status, r.header(b"x-request-id"), r.body) for r in results], lines]


async def _run_paths(logs: LogCapture) -> list[Any]:
    app = build_stack(sentry_apps.raw_app)
    results = []
    for number, path in enumerate(["/raise", "/returned-500", "/http-404", "/logged-reraise"]):
        scope = http_scope(path=path, headers=[(b"x-request-id", f"r-{number}".encode())])
        results.append(await call(app, scope))
    return _observable(results, logs)


async def test_installed_but_not_initialised_behaves_the_same(logs: LogCapture) -> None:
    """No client, a client without DSN, and an active client give the same responses and lines."""
    sentry_support.disable()
    without = await _run_paths(logs)
    logs.clear()
    sentry_sdk.init()  # initialised, no DSN
    no_dsn = await _run_paths(logs)
    logs.clear()
    sentry_support.init(sentry_support.MemoryTransport())
    active = await _run_paths(logs)
    assert without == no_dsn == active


NOT_INSTALLED = r"""
import asyncio, importlib.abc, io, json, sys

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "sentry_sdk" or name.startswith("sentry_sdk."):
            raise ImportError("sentry_sdk is not installed")

sys.meta_path.insert(0, Block())
from asgi_obs import build_stack, init_structured_logging
from tests.asgi import call, http_scope
from tests import sentry_apps

stream = io.StringIO()
init_structured_logging(stream=stream)

async def main():
    app = build_stack(sentry_apps.raw_app)
    return [
        (await call(app, http_scope(path=p))).status
        for p in ["/raise", "/returned-500", "/http-404", "/logged-reraise"]
    ]

statuses = asyncio.run(main())
assert "sentry_sdk" not in sys.modules
print(json.dumps({"statuses": statuses, "lines": [json.loads(l) for l in stream.getvalue().splitlines()]}))
"""


def test_without_sentry_sdk_installed() -> None:
    """With sentry_sdk impossible to import, everything but the events works the same."""
    import os

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    done = subprocess.run(
        [sys.executable, "-c", NOT_INSTALLED],
        capture_output=True,
        text=True,
        cwd=root,
        timeout=60,
        check=True,
    )
    report = json.loads(done.stdout)
    assert report["statuses"] == [500, 500, 404, 500]
    errors = [line for line in report["lines"] if line["logger"] == "asgi_obs.error"]
    assert len(errors) == 3
    assert all(len(line["trace_id"]) == 32 for line in errors)


SERVER = r"""
import logging, os
import uvicorn
from asgi_obs import build_stack, init_sentry, init_structured_logging, uvicorn_log_config

init_structured_logging()
assert init_sentry()  # SENTRY_DSN points at the test's loopback sink
from starlette.applications import Starlette  # built after init: integrations patch Starlette
from starlette.routing import Route

async def boom(request):
    logging.getLogger("app").info("about to fail", extra={"step": 1})
    raise RuntimeError("boom over the wire")

app = build_stack(Starlette(routes=[Route("/boom", boom)]))
uvicorn.run(app, host="127.0.0.1", port=int(os.environ["PORT"]), log_config=uvicorn_log_config())
"""


@pytest.mark.server
def test_real_uvicorn_one_event_one_traceback() -> None:
    """Over the wire, /boom gives one event at the sink and one traceback on stdout."""
    import urllib.error
    import urllib.request

    from .servers import run_python

    sink = sentry_support.EnvelopeSink()
    # run_python stops the server by PID; Sentry flushes on exit, so every event it would send
    # has arrived at the sink when the block ends.
    with sink.running(), run_python(SERVER, env={"SENTRY_DSN": sink.dsn}) as server:
        with pytest.raises(urllib.error.HTTPError) as failed:
            urllib.request.urlopen(server.url + "/boom", timeout=5)
        failed.value.close()  # an HTTPError holds the response's socket
        assert failed.value.code == 500
        request_id = failed.value.headers["x-request-id"]
        server.wait_for(lambda line: "GET /boom 500" in line)
    lines = server.json_lines()
    output = "\n".join(server.stdout + server.stderr)
    assert output.count("Traceback (most recent call last)") == 1
    (event,) = sink.events
    assert event["tags"]["request_id"] == request_id
    assert event["exception"]["values"][-1]["value"] == "boom over the wire"
    trace_ids = {line["trace_id"] for line in lines if line["request_id"] == request_id}
    assert trace_ids == {event["contexts"]["trace"]["trace_id"]}
    assert [c["message"] for c in event["breadcrumbs"]["values"] if c["category"] == "app"] == [
        "about to fail"
    ]


async def test_outgoing_headers_with_sentry(logs: LogCapture) -> None:
    """With Sentry active, sentry-trace and traceparent carry the same trace and span ids,
    the request's trace id, plus Sentry's baggage."""
    sentry_support.init(sentry_support.MemoryTransport())
    seen: dict[str, str] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        from asgi_obs import outgoing_headers

        seen.update(outgoing_headers())
        log.info("outgoing")
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    await call(build_stack(app), http_scope(headers=[(b"x-request-id", b"out-1")]))
    (line,) = [line for line in logs.lines() if line["message"] == "outgoing"]
    trace_id, span_id = seen["sentry-trace"].split("-")[:2]
    assert trace_id == line["trace_id"]
    assert seen["traceparent"] == f"00-{trace_id}-{span_id}-00"
    assert seen["X-Request-ID"] == "out-1"
    assert f"sentry-trace_id={trace_id}" in seen["baggage"]


async def test_methods_sentry_does_not_continue_still_agree(logs: LogCapture) -> None:
    """A method the Sentry middleware inside the app is configured not to trace (POST here)
    still gets one trace id in logs and event."""
    from sentry_sdk.integrations.starlette import StarletteIntegration

    try:  # the option exists from sentry-sdk 2.14; on 2.12 every method is traced anyway
        integration = StarletteIntegration(http_methods_to_capture=("GET",))
    except TypeError:
        integration = StarletteIntegration()
    transport = sentry_support.MemoryTransport()
    sentry_support.init(transport, integrations=[integration])  # type: ignore[list-item]
    app = build_stack(sentry_apps.starlette_app())
    await call(app, http_scope(path="/neighbour"))
    for number in range(2):
        scope = http_scope(
            path="/returned-500", method="POST", headers=[(b"x-request-id", f"post-{number}".encode())]
        )
        await call(app, scope)
    assert len(transport.events) == 2
    for event in transport.events:
        request_id = event["tags"]["request_id"]
        lines = {line["trace_id"] for line in logs.lines() if line["request_id"] == request_id}
        assert lines == {event["contexts"]["trace"]["trace_id"]}
    assert (
        transport.events[0]["contexts"]["trace"]["trace_id"]
        != transport.events[1]["contexts"]["trace"]["trace_id"]
    )


async def test_routes_beside_a_sentry_instrumented_app_keep_their_own_scope(logs: LogCapture) -> None:
    """A raw route next to a Starlette app (whose Sentry middleware forks scopes of its own):
    after requests through Starlette, concurrent raw requests still get isolated breadcrumbs and
    their own trace ids (regression: the stack once stopped forking after seeing that middleware)."""
    transport = sentry_support.MemoryTransport()
    sentry_support.init(transport)
    starlette_part = sentry_apps.starlette_app()

    async def router(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/raw"):
            log.info("raw handling", extra={"marker": scope["path"]})
            await asyncio.sleep(0.01)  # the other request interleaves here
            await send({"type": "http.response.start", "status": 503, "headers": []})
            await send({"type": "http.response.body", "body": b"maintenance"})
            return
        await starlette_part(scope, receive, send)

    app = build_stack(router)
    for _ in range(2):
        await call(app, http_scope(path="/neighbour"))
    await asyncio.gather(call(app, http_scope(path="/raw/a")), call(app, http_scope(path="/raw/b")))
    assert len(transport.events) == 2
    for event in transport.events:
        request_id = event["tags"]["request_id"]
        (access,) = [line for line in logs.access() if line["request_id"] == request_id]
        assert event["contexts"]["trace"]["trace_id"] == access["trace_id"]
        markers = [
            c["data"]["marker"] for c in event["breadcrumbs"]["values"] if c.get("message") == "raw handling"
        ]
        assert markers == [access["path"]]


async def test_client_disconnect_is_no_event(logs: LogCapture) -> None:
    """A client gone before Starlette read the body: Sentry's integration reports the
    ClientDisconnect, asgi_obs drops it (no failure), and there is no error record."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    transport = sentry_support.MemoryTransport()
    sentry_support.init(transport)

    async def upload(request: Request) -> PlainTextResponse:
        return PlainTextResponse(str(len(await request.body())))

    app = build_stack(Starlette(routes=[Route("/upload", upload, methods=["POST"])]))
    await call(app, http_scope(path="/upload", method="POST"), incoming=[{"type": "http.disconnect"}])
    assert transport.events == []
    assert logs.errors() == []


async def test_exception_shared_between_requests_is_reported_for_each(logs: LogCapture) -> None:
    """One exception object re-raised by several requests (a failed startup task every request
    awaits), logged once at startup: each request still gets its traceback and its event.
    (Sentry's own DedupeIntegration, off here, would drop the repeats of one exception object.)"""
    transport = sentry_support.MemoryTransport()
    sentry_support.init(transport, dedupe=False)
    asgi_obs.sentry.ensure_registered()

    async def warm_up() -> None:
        raise ConnectionError("cache cluster unreachable")

    failed = asyncio.ensure_future(warm_up())
    with contextlib.suppress(ConnectionError):
        await failed
    log.error("warm-up failed", exc_info=failed.exception())  # outside any request: one event

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await failed  # re-raises the same exception object

    stacked = build_stack(app)
    for number in range(2):
        await call(stacked, http_scope(headers=[(b"x-request-id", f"shared-{number}".encode())]))
    errors = logs.errors()
    assert [line["request_id"] for line in errors] == ["shared-0", "shared-1"]
    assert all("exc_info" in line for line in errors)
    tagged = [event.get("tags", {}).get("request_id") for event in transport.events]
    assert tagged == [None, "shared-0", "shared-1"]


async def test_traceparent_agrees_with_a_sampled_transaction(logs: LogCapture) -> None:
    """With Sentry's middleware running a sampled transaction, the outgoing traceparent carries
    the same trace, span and sampling decision as sentry-trace."""
    sentry_support.init(sentry_support.MemoryTransport(), traces_sample_rate=1.0)
    seen: dict[str, str] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        from asgi_obs import outgoing_headers

        seen.update(outgoing_headers())
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    await call(SentryAsgiMiddleware(build_stack(app)), http_scope())
    trace_id, span_id, sampled = seen["sentry-trace"].split("-")
    assert sampled == "1"
    assert seen["traceparent"] == f"00-{trace_id}-{span_id}-01"


async def test_capture_after_the_inner_sentry_scope_ended(logs: LogCapture) -> None:
    """In a Starlette app (whose Sentry middleware gives each request its scope), a failure the
    stack captures after the app returned (a response left half-sent) still has the request's
    trace id and none of another request's breadcrumbs."""
    from starlette.applications import Starlette
    from starlette.routing import Mount

    transport = sentry_support.MemoryTransport()
    sentry_support.init(transport)

    async def half_sent(scope: Any, receive: Any, send: Any) -> None:
        log.info("half", extra={"marker": scope["path"]})
        await asyncio.sleep(0.01)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"x", "more_body": True})

    app = build_stack(Starlette(routes=[Mount("/raw", app=half_sent)]))
    await asyncio.gather(*(call(app, http_scope(path=f"/raw/{name}")) for name in ("a", "b")))
    assert len(transport.events) == 2
    for event in transport.events:
        request_id = event["tags"]["request_id"]
        (access,) = [line for line in logs.access() if line["request_id"] == request_id]
        assert event["contexts"]["trace"]["trace_id"] == access["trace_id"]
        crumbs = event.get("breadcrumbs", {}).get("values", [])
        assert not [c for c in crumbs if c.get("message") == "half" and c["data"]["marker"] != access["path"]]
