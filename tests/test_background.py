"""Context into background work: capture_context() / ContextSnapshot carry a request's ids and
bind() fields into executor jobs, tasks that outlive the request, and job queues."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import queue
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest

from asgi_obs import (
    ContextSnapshot,
    bind,
    build_stack,
    capture_context,
    get_request_id,
    get_trace_id,
    outgoing_headers,
)

from .asgi import client
from .conftest import LogCapture

pytestmark = pytest.mark.anyio
log = logging.getLogger("test.background")
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
REQUEST_HEADERS = {"X-Request-ID": "req-bg-1", "traceparent": f"00-{TRACE}-00f067aa0ba902b7-01"}


def endpoint(handle: Any) -> Any:
    """A raw ASGI app: bind user_id, hand work over with ``handle()``, bind a field too late
    for the work, let a started task run, log, answer 200."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        bind(user_id=7)
        handle()
        bind(after_handover=True)
        await asyncio.sleep(0)
        log.info("request done")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    return app


def by_message(logs: LogCapture, message: str) -> list[dict[str, Any]]:
    return [line for line in logs.lines() if line["message"] == message]


def job(release: threading.Event, name: str = "job ran", **extra: Any) -> str | None:
    """Wait until the request is over, then log (and bind, when asked)."""
    assert release.wait(10)
    if extra:
        bind(**extra)
    log.info(name)
    return get_request_id()


async def test_executor_job_after_the_request_ended(logs: LogCapture) -> None:
    """A ThreadPoolExecutor job submitted during a request logs with the request's ids and
    bound fields after the request ended (its access record already written)."""
    release = threading.Event()
    futures: list[Future[str | None]] = []
    with ThreadPoolExecutor(max_workers=1) as executor:
        app = endpoint(lambda: futures.append(executor.submit(capture_context().run, job, release)))
        async with client(build_stack(app)) as http:
            await http.get("/", headers=REQUEST_HEADERS)
        assert len(logs.access()) == 1  # the request is over
        release.set()
        assert futures[0].result(timeout=10) == "req-bg-1"
    (line,) = by_message(logs, "job ran")
    assert (line["request_id"], line["trace_id"], line["user_id"]) == ("req-bg-1", TRACE, 7)
    assert "after_handover" not in line  # bound after the snapshot was taken
    assert logs.lines()[-1]["message"] == "job ran"


async def test_create_task_outliving_the_request(logs: LogCapture) -> None:
    """An asyncio task started during a request and running after it logs with the request's
    ids and fields; what it binds (while the request runs) stays its own, off the request's
    access record (a plain create_task child would share the request's state)."""
    release = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []

    async def background(snapshot: ContextSnapshot) -> None:
        with snapshot.activate():
            bind(job_step="emailed")  # while the request still runs
            await release.wait()
            log.info("task ran")

    app = endpoint(lambda: tasks.append(asyncio.create_task(background(capture_context()))))
    async with client(build_stack(app)) as http:
        await http.get("/", headers=REQUEST_HEADERS)
    (access,) = logs.access()
    release.set()
    await asyncio.wait_for(tasks[0], 10)
    (line,) = by_message(logs, "task ran")
    assert (line["request_id"], line["trace_id"], line["user_id"], line["job_step"]) == (
        "req-bg-1",
        TRACE,
        7,
        "emailed",
    )
    assert "after_handover" not in line  # bound after the snapshot was taken, before it ran
    assert access["user_id"] == 7 and "job_step" not in access


async def test_job_queue_round_trip_through_json(logs: LogCapture) -> None:
    """A job queue message carries snapshot.to_dict() as JSON to a worker thread, which runs
    the job under the request's ids and fields (a datetime field as ISO 8601)."""
    messages: queue.Queue[str] = queue.Queue()
    seen: dict[str, Any] = {}
    when = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.timezone.utc)

    def enqueue() -> None:
        bind(placed_at=when)
        messages.put(json.dumps({"job": "report", "context": capture_context().to_dict()}))

    def worker() -> None:
        message = json.loads(messages.get(timeout=10))

        def handle() -> None:
            log.info("worker ran", extra={"job": message["job"]})
            seen["outgoing"] = outgoing_headers()

        ContextSnapshot.from_dict(message["context"]).run(handle)

    async with client(build_stack(endpoint(enqueue))) as http:
        await http.get("/", headers=REQUEST_HEADERS)
    thread = threading.Thread(target=worker)
    thread.start()
    thread.join(10)
    (line,) = by_message(logs, "worker ran")
    assert (line["request_id"], line["trace_id"], line["user_id"], line["job"]) == (
        "req-bg-1",
        TRACE,
        7,
        "report",
    )
    assert line["placed_at"] == "2026-12-01T12:00:00+00:00"
    assert seen["outgoing"]["X-Request-ID"] == "req-bg-1"
    _, trace_id, _, flags = seen["outgoing"]["traceparent"].split("-")
    assert (trace_id, flags) == (TRACE, "01")  # the request's trace and sampling decision


async def test_bound_fields_never_leak_between_jobs_or_back(logs: LogCapture) -> None:
    """bind() in one job changes neither the request (its later lines and access record) nor
    another job run from the same snapshot."""
    release = threading.Event()
    release.set()

    def handle() -> None:
        snapshot = capture_context()
        snapshot.run(job, release, "first job", user_id=99, secret_step=1)
        snapshot.run(job, release, "second job")

    async with client(build_stack(endpoint(handle))) as http:
        await http.get("/", headers=REQUEST_HEADERS)
    (first,) = by_message(logs, "first job")
    (second,) = by_message(logs, "second job")
    (done,) = by_message(logs, "request done")
    (access,) = logs.access()
    assert (first["user_id"], first["secret_step"]) == (99, 1)
    assert second["user_id"] == 7 and "secret_step" not in second
    for line in (done, access):
        assert line["user_id"] == 7 and "secret_step" not in line
        assert line["request_id"] == "req-bg-1"


async def test_capture_outside_a_request_is_empty(logs: LogCapture) -> None:
    """Outside a request capture_context() is empty: falsy, {} as a dict, and activating it
    changes nothing (neither outside a request nor inside another one)."""
    snapshot = capture_context()
    assert not snapshot and snapshot.to_dict() == {} and snapshot.request_id is None
    assert not ContextSnapshot.from_dict({})
    assert snapshot.run(get_request_id) is None
    with snapshot.activate():
        assert bind(x=1) is False
        log.info("outside")
    (line,) = by_message(logs, "outside")
    assert line["request_id"] is None and "x" not in line
    seen: list[str | None] = []

    def handle() -> None:
        seen.append(snapshot.run(get_request_id))

    async with client(build_stack(endpoint(handle))) as http:
        await http.get("/", headers=REQUEST_HEADERS)
    assert seen == ["req-bg-1"]


async def test_activation_restores_what_was_current(logs: LogCapture) -> None:
    """Activating one request's snapshot inside another request sets its ids for the block
    only; the surrounding request's ids and fields come back after it."""
    captured: list[ContextSnapshot] = []
    seen: dict[str, Any] = {}

    def first() -> None:
        captured.append(capture_context())

    def second() -> None:
        with captured[0].activate():
            seen["inside"] = (get_request_id(), get_trace_id())
        seen["after"] = (get_request_id(), get_trace_id())

    async with client(build_stack(endpoint(first))) as http:
        await http.get("/", headers=REQUEST_HEADERS)
    async with client(build_stack(endpoint(second))) as http:
        await http.get("/", headers={"X-Request-ID": "req-bg-2"})
    assert seen["inside"] == ("req-bg-1", TRACE)
    assert seen["after"][0] == "req-bg-2" and seen["after"][1] != TRACE
    (_, done) = by_message(logs, "request done")
    assert done["request_id"] == "req-bg-2" and done["user_id"] == 7


def test_run_refuses_a_coroutine() -> None:
    """snapshot.run(async_fn) would only cover creating the coroutine: a TypeError says to
    activate inside it instead (and the coroutine is closed, not left unawaited)."""

    async def work() -> None:
        return None

    with pytest.raises(TypeError, match="activate"):
        capture_context().run(work)


GOOD = {"request_id": "req-1", "trace_id": TRACE, "fields": {"user_id": 7}}


@pytest.mark.parametrize(
    ("data", "key"),
    [
        (["not", "a", "dict"], "mapping"),
        ({**GOOD, "request_id": "bad id\r\nX-Injected: 1"}, "'request_id'"),
        ({**GOOD, "request_id": 42}, "'request_id'"),
        ({"trace_id": TRACE}, "'request_id'"),
        ({**GOOD, "trace_id": TRACE.upper()}, "'trace_id'"),
        ({**GOOD, "trace_id": "0" * 32}, "'trace_id'"),
        ({"request_id": "req-1"}, "'trace_id'"),
        ({**GOOD, "sampled": "yes"}, "'sampled'"),
        ({**GOOD, "fields": ["user_id"]}, "'fields'"),
        ({**GOOD, "fields": {"levelname": "x"}}, "levelname"),
        ({**GOOD, "fields": {"_private": 1}}, "_private"),
        ({"fields": {"user_id": 7}}, "without"),
    ],
)
def test_from_dict_rejects_malformed_input(data: Any, key: str) -> None:
    """A malformed snapshot dict is a ValueError naming what is wrong, never quoting a
    rejected id."""
    with pytest.raises(ValueError, match=key) as raised:
        ContextSnapshot.from_dict(data)
    assert "bad id" not in str(raised.value)


def test_to_dict_is_always_json() -> None:
    """Field values JSON cannot encode (an object, NaN, a cycle) still give a dict json.dumps
    accepts, the values as text or null, every key kept."""
    cycle: list[Any] = []
    cycle.append(cycle)
    snapshot = ContextSnapshot.from_dict(
        {**GOOD, "fields": {"obj": object, "nan": float("nan"), "cycle": cycle}}
    )
    data = json.loads(json.dumps(snapshot.to_dict(), allow_nan=False))
    assert data["fields"]["obj"] == "<class 'object'>" and data["fields"]["nan"] is None
    assert set(data["fields"]) == {"obj", "nan", "cycle"}
    assert ContextSnapshot.from_dict(data).fields == data["fields"]


def test_from_dict_custom_validator_and_unknown_keys() -> None:
    """A service with its own request-id rule passes it as validator=; unknown keys (a newer
    producer) are ignored."""
    data = {**GOOD, "request_id": "x" * 200, "version": 2}
    with pytest.raises(ValueError, match="'request_id'"):
        ContextSnapshot.from_dict(data)
    snapshot = ContextSnapshot.from_dict(data, validator=lambda value: len(value) <= 256)
    assert (snapshot.request_id, snapshot.trace_id, snapshot.fields) == ("x" * 200, TRACE, {"user_id": 7})
    assert snapshot.to_dict() == {"request_id": "x" * 200, "trace_id": TRACE, "fields": {"user_id": 7}}
