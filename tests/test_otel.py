"""OpenTelemetry interop: the real OTel SDK (in-memory exporter) and its ASGI middleware outside
the stack; the logs, get_trace_id(), outgoing traceparent and Sentry events follow OTel's trace."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import SpanKind

from asgi_obs import build_stack, get_trace_id, outgoing_headers

from . import sentry_support
from .asgi import client
from .conftest import LogCapture

pytestmark = pytest.mark.anyio
log = logging.getLogger("test.otel")
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"
OTHER_TRACE = "0af7651916cd43dd8448eb211c80319c"

_EXPORTER = InMemorySpanExporter()
_PROVIDER = TracerProvider()
_PROVIDER.add_span_processor(SimpleSpanProcessor(_EXPORTER))
_TRACER = _PROVIDER.get_tracer("test.otel")


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """The exporter every span of these tests ends up in, emptied around each test."""
    _EXPORTER.clear()
    yield _EXPORTER
    _EXPORTER.clear()


def server_span(exporter: InMemorySpanExporter) -> ReadableSpan:
    (span,) = [span for span in exporter.get_finished_spans() if span.kind == SpanKind.SERVER]
    return span


def hex_ids(span: ReadableSpan) -> tuple[str, str]:
    context = span.get_span_context()
    assert context is not None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


def traced_app(seen: dict[str, Any], *, child_span: bool = False, fail: bool = False) -> Any:
    """A raw ASGI app that logs, records get_trace_id() and outgoing_headers(), then answers."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        log.info("handling")
        seen["get_trace_id"] = get_trace_id()
        seen["outgoing"] = outgoing_headers()
        if child_span:
            with _TRACER.start_as_current_span("work") as work:
                seen["work_span_id"] = format(work.get_span_context().span_id, "016x")
                seen["outgoing_in_child"] = outgoing_headers()
        if fail:
            raise RuntimeError("traced failure")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    return app


def otel_outside(app: Any, provider: TracerProvider = _PROVIDER) -> Any:
    return OpenTelemetryMiddleware(build_stack(app), tracer_provider=provider)


async def test_log_lines_carry_the_otel_server_span_trace_id(
    logs: LogCapture, spans: InMemorySpanExporter
) -> None:
    """With OTel's ASGI middleware outside, every line's trace_id (and get_trace_id()) is the
    exported server span's trace id."""
    seen: dict[str, Any] = {}
    async with client(otel_outside(traced_app(seen))) as http:
        response = await http.get("/items")
    assert response.status_code == 200
    trace_id, _ = hex_ids(server_span(spans))
    (handling,) = [line for line in logs.lines() if line["message"] == "handling"]
    (access,) = logs.access()
    assert handling["trace_id"] == access["trace_id"] == seen["get_trace_id"] == trace_id


@pytest.mark.parametrize("stale_sentry_trace", [False, True], ids=["traceparent", "with-stale-sentry-trace"])
async def test_incoming_traceparent_continued_by_otel(
    logs: LogCapture, spans: InMemorySpanExporter, stale_sentry_trace: bool
) -> None:
    """An incoming traceparent that OTel continued: the lines carry its trace id, and the
    request's outgoing traceparent announces OTel's server span (not the caller's, nor one of
    our own); OTel's continuation wins over a sentry-trace header of another trace."""
    seen: dict[str, Any] = {}
    headers = {"traceparent": f"00-{TRACE}-{PARENT}-01"}
    if stale_sentry_trace:
        headers["sentry-trace"] = f"{OTHER_TRACE}-{PARENT}-1"
    async with client(otel_outside(traced_app(seen))) as http:
        await http.get("/items", headers=headers)
    span = server_span(spans)
    trace_id, span_id = hex_ids(span)
    assert span.parent is not None and format(span.parent.span_id, "016x") == PARENT
    assert trace_id == TRACE
    assert {line["trace_id"] for line in logs.lines()} == {TRACE}
    assert seen["outgoing"]["traceparent"] == f"00-{TRACE}-{span_id}-01"


async def test_outgoing_headers_follow_the_current_otel_span(
    logs: LogCapture, spans: InMemorySpanExporter
) -> None:
    """outgoing_headers() inside the handler continues OTel's trace with the span current at
    the time of the call as parent: the server span, then a child span the handler started."""
    seen: dict[str, Any] = {}
    async with client(otel_outside(traced_app(seen, child_span=True))) as http:
        await http.get("/items", headers={"X-Request-ID": "otel-out-1"})
    trace_id, server_span_id = hex_ids(server_span(spans))
    assert seen["outgoing"] == {
        "X-Request-ID": "otel-out-1",
        "traceparent": f"00-{trace_id}-{server_span_id}-01",
    }
    assert seen["outgoing_in_child"]["traceparent"] == f"00-{trace_id}-{seen['work_span_id']}-01"


async def test_unsampled_otel_span_gives_unsampled_traceparent(logs: LogCapture) -> None:
    """The sampled flag comes from the OTel span's trace flags: a span OTel did not sample
    gives "-00" even when the caller's traceparent said sampled."""
    provider = TracerProvider(sampler=ALWAYS_OFF)
    seen: dict[str, Any] = {}
    async with client(otel_outside(traced_app(seen), provider)) as http:
        await http.get("/items", headers={"traceparent": f"00-{TRACE}-{PARENT}-01"})
    version, trace_id, parent, flags = seen["outgoing"]["traceparent"].split("-")
    assert (version, trace_id, flags) == ("00", TRACE, "00")
    assert parent != PARENT


async def test_otel_imported_without_a_current_span_uses_the_headers(logs: LogCapture) -> None:
    """OpenTelemetry imported but no span current (no OTel middleware): the incoming
    traceparent is continued as before."""
    assert "opentelemetry.trace" in sys.modules
    seen: dict[str, Any] = {}
    async with client(build_stack(traced_app(seen))) as http:
        await http.get("/items", headers={"traceparent": f"00-{TRACE}-{PARENT}-01"})
    assert {line["trace_id"] for line in logs.lines()} == {TRACE}
    _, trace_id, parent, flags = seen["outgoing"]["traceparent"].split("-")
    assert (trace_id, flags) == (TRACE, "01") and parent != PARENT


async def test_a_span_of_another_trace_is_not_announced(
    logs: LogCapture, spans: InMemorySpanExporter
) -> None:
    """A root span the handler starts (another trace) does not hijack the request's outgoing
    traceparent: it stays on the request's trace, so the callee's logs do too."""
    seen: dict[str, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        from opentelemetry.context import Context

        with _TRACER.start_as_current_span("root", context=Context()) as root:  # a new trace
            seen["root_trace"] = format(root.get_span_context().trace_id, "032x")
            seen["root_span"] = format(root.get_span_context().span_id, "016x")
            seen["outgoing"] = outgoing_headers()
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async with client(otel_outside(app)) as http:
        await http.get("/items")
    trace_id, server_span_id = hex_ids(server_span(spans))
    assert seen["root_trace"] != trace_id
    _, announced_trace, parent, flags = seen["outgoing"]["traceparent"].split("-")
    assert (announced_trace, flags) == (trace_id, "01")  # the request's trace, OTel's sampling
    assert parent not in (seen["root_span"], server_span_id)  # the request's own span


@pytest.mark.sentry
@pytest.mark.parametrize("incoming", ["none", "traceparent"])
@pytest.mark.parametrize("framework", ["raw", "starlette"])
async def test_sentry_event_on_the_otel_trace(
    logs: LogCapture, spans: InMemorySpanExporter, framework: str, incoming: str
) -> None:
    """With Sentry active, the event's contexts.trace.trace_id is the OTel server span's trace
    id, the same as the logs', whether OTel started the trace or continued a traceparent (over
    a sentry-trace header of another trace)."""
    transport = sentry_support.MemoryTransport()
    sentry_support.init(transport)
    app = traced_app({}, fail=True)
    if framework == "starlette":  # built after init: Sentry's integration patches Starlette
        from starlette.applications import Starlette
        from starlette.routing import Route

        async def endpoint(request: Any) -> Any:
            log.info("handling")
            raise RuntimeError("traced failure")

        app = Starlette(routes=[Route("/items", endpoint)])
    headers = {}
    if incoming == "traceparent":
        headers = {"traceparent": f"00-{TRACE}-{PARENT}-01", "sentry-trace": f"{OTHER_TRACE}-{PARENT}-1"}
    async with client(otel_outside(app), raise_app_exceptions=False) as http:
        response = await http.get("/items", headers=headers)
    assert response.status_code == 500
    trace_id, _ = hex_ids(server_span(spans))
    if incoming == "traceparent":
        assert trace_id == TRACE
    (event,) = transport.events
    assert event["contexts"]["trace"]["trace_id"] == trace_id
    assert {line["trace_id"] for line in logs.lines()} == {trace_id}


@pytest.mark.sentry
async def test_sentry_headers_on_the_otel_trace(logs: LogCapture, spans: InMemorySpanExporter) -> None:
    """With Sentry active, outgoing sentry-trace and baggage are on OTel's trace too: a baggage
    header that came without a trace (so describes another) is not continued."""
    sentry_support.init(sentry_support.MemoryTransport())
    seen: dict[str, Any] = {}
    baggage = f"sentry-trace_id={OTHER_TRACE},sentry-public_key=public,sentry-sample_rate=1"
    async with client(otel_outside(traced_app(seen))) as http:
        await http.get("/items", headers={"baggage": baggage})
    trace_id, server_span_id = hex_ids(server_span(spans))
    outgoing = seen["outgoing"]
    assert outgoing["traceparent"] == f"00-{trace_id}-{server_span_id}-01"
    assert outgoing["sentry-trace"].split("-")[0] == trace_id
    assert f"sentry-trace_id={trace_id}" in outgoing["baggage"]
    assert OTHER_TRACE not in outgoing["baggage"]


WITHOUT_OTEL = r"""
import asyncio, importlib.abc, io, json, sys

attempts = []

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "opentelemetry" or name.startswith("opentelemetry."):
            attempts.append(name)
            raise ImportError("opentelemetry is not installed")

sys.meta_path.insert(0, Block())
import httpx
from asgi_obs import build_stack, get_trace_id, init_structured_logging, outgoing_headers

stream = io.StringIO()
init_structured_logging(stream=stream)
seen = {}

async def app(scope, receive, send):
    seen["trace_id"] = get_trace_id()
    seen["outgoing"] = outgoing_headers()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})

async def main():
    transport = httpx.ASGITransport(app=build_stack(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        response = await http.get("/", headers={"traceparent": "00-%s-00f067aa0ba902b7-01" % ("ab" * 16)})
    return response.status_code

status = asyncio.run(main())
print(json.dumps({
    "status": status,
    "attempts": attempts,
    "imported": sorted(m for m in sys.modules if m.split(".")[0] == "opentelemetry"),
    "seen": seen,
}))
"""


def test_no_opentelemetry_import_without_the_app_importing_it() -> None:
    """Importing asgi_obs and serving a request (outgoing headers included) never imports, nor
    tries to import, opentelemetry."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_OTEL], capture_output=True, text=True, cwd=root, timeout=60, check=True
    )
    report = json.loads(done.stdout)
    assert report["status"] == 200
    assert report["attempts"] == [] and report["imported"] == []
    assert report["seen"]["trace_id"] == "ab" * 16
    assert report["seen"]["outgoing"]["traceparent"].startswith("00-" + "ab" * 16)
