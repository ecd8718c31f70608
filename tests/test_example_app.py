"""The example app in-process: each route's status, ids, log lines and Sentry events; its lint rules.

Every request goes through ``httpx.ASGITransport`` against the real app from
``example_app.main.create_app()``, with its lifespan running; the app's downstream client is
pointed back at the app itself, in-process. ``create_app()`` leaves logging and Sentry alone, so
the ``logs`` fixture and the in-memory Sentry transport see everything.
"""

from __future__ import annotations

import ast
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from example_app import sentry_utils
from example_app.__main__ import main as cli
from example_app.demo import PROBES, Reply, evaluate
from example_app.main import create_app

from . import sentry_support
from .asgi import call, client
from .conftest import LogCapture

pytestmark = pytest.mark.anyio

EXAMPLE_APP = Path(__file__).resolve().parent.parent / "example_app"


@contextlib.asynccontextmanager
async def example_client() -> AsyncIterator[httpx.AsyncClient]:
    """A client for a fresh ``create_app()``, lifespan started; ``/downstream`` calls stay in-process."""
    served: list[Any] = []  # the app as served (with its lifespan state), once started

    async def same_service(scope: Any, receive: Any, send: Any) -> None:
        await served[0](scope, receive, send)

    app = create_app(http_transport=httpx.ASGITransport(app=same_service))
    async with LifespanManager(app) as manager:
        served.append(manager.app)
        # /stream-fail re-raises after its 200 (the server must abort): keep the partial response.
        async with client(manager.app, raise_app_exceptions=False) as http:
            yield http


# One row per HTTP route: status, access outcome, error records (the failure taxonomy of DESIGN §6).
ROUTES = [
    ("/", 200, "success", 0),
    ("/users/7", 200, "success", 0),
    ("/conversations/active", 200, "success", 0),
    ("/slow", 200, "success", 0),
    ("/boom", 500, "server_error", 1),
    ("/http-error/404", 404, "client_error", 0),
    ("/http-error/503", 503, "server_error", 1),
    ("/http-error/200", 400, "client_error", 0),
    ("/stream", 200, "success", 0),
    ("/stream-fail", 200, "aborted", 1),
]


@pytest.mark.parametrize(("path", "status", "outcome", "errors"), ROUTES)
async def test_route_status_ids_and_records(
    logs: LogCapture, path: str, status: int, outcome: str, errors: int
) -> None:
    """Each route answers its status with the id echoed; one access record, errors only for 5xx."""
    async with example_client() as http:
        response = await http.get(path, headers={"X-Request-ID": "example-1"})
    assert response.status_code == status
    assert response.headers["x-request-id"] == "example-1"
    (access,) = logs.access()
    assert (access["path"], access["status"], access["outcome"]) == (path, status, outcome)
    assert len(logs.errors()) == errors
    assert all("exc_info" in line for line in logs.errors())
    lines = logs.lines()
    assert {line["request_id"] for line in lines} == {"example-1"}
    assert len({line["trace_id"] for line in lines}) == 1


# Route, and what its body is (JSON when a dict, else text).
BODIES = [
    ("/", {"message": "Hello from example_app", "request_id": "body-1"}),
    ("/users/7", {"id": 7, "name": "user-7"}),
    ("/conversations/active", {"active_conversations": 3}),
    ("/slow", {"slept_ms": 100}),
    ("/stream", "chunk 0\nchunk 1\nchunk 2\n"),
    ("/stream-fail", "chunk 0\n"),
    ("/health", {"status": "ok", "sentry": False}),
]


@pytest.mark.parametrize(("path", "body"), BODIES)
async def test_route_bodies(logs: LogCapture, path: str, body: Any) -> None:
    """What each successful route answers (``/`` reads the id from ``request.state``)."""
    async with example_client() as http:
        response = await http.get(path, headers={"X-Request-ID": "body-1"})
    assert (response.json() if isinstance(body, dict) else response.text) == body


async def test_user_fetched_line_carries_user_id(logs: LogCapture) -> None:
    """``GET /users/7`` logs "User fetched" with ``user_id`` 7 and the request's ids."""
    async with example_client() as http:
        await http.get("/users/7", headers={"X-Request-ID": "user-1"})
    (line,) = logs.records("example_app")
    (access,) = logs.access()
    assert (line["message"], line["user_id"], line["request_id"]) == ("User fetched", 7, "user-1")
    assert line["trace_id"] == access["trace_id"]
    assert access["route"] == "/users/{user_id:int}"


async def test_slow_awaits(logs: LogCapture) -> None:
    """``/slow`` takes its 100 ms without blocking the loop: another request completes meanwhile."""
    import anyio

    finished: list[str] = []
    async with example_client() as http:

        async def get(path: str) -> None:
            await http.get(path)
            finished.append(path)

        async with anyio.create_task_group() as group:
            group.start_soon(get, "/slow")
            group.start_soon(get, "/")
    assert finished == ["/", "/slow"]
    slow = next(line for line in logs.access() if line["path"] == "/slow")
    assert slow["duration_ms"] >= 100


async def test_health_is_not_in_the_access_log(logs: LogCapture) -> None:
    """A healthy ``/health`` writes no line at all (skip_paths), and still gets its id."""
    async with example_client() as http:
        response = await http.get("/health")
    assert response.status_code == 200
    assert response.headers["x-request-id"]
    assert logs.lines() == []


async def test_downstream_call_shares_the_ids(logs: LogCapture) -> None:
    """``/downstream`` calls ``/users/7`` with inject_headers: both requests log the same ids."""
    async with example_client() as http:
        response = await http.get("/downstream", headers={"X-Request-ID": "down-1"})
    assert response.status_code == 200
    assert response.json() == {"downstream_status": 200, "user": {"id": 7, "name": "user-7"}}
    assert [line["path"] for line in logs.access()] == ["/users/7", "/downstream"]
    lines = logs.lines()
    assert {line["request_id"] for line in lines} == {"down-1"}
    assert len({line["trace_id"] for line in lines}) == 1
    assert "User fetched" in [line["message"] for line in lines]


async def test_websocket_echo(logs: LogCapture) -> None:
    """``WS /ws`` echoes text; the handshake carries X-Request-ID and the socket gets one access record."""
    scope = {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "scheme": "ws",
        "path": "/ws",
        "raw_path": b"/ws",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"test"), (b"x-request-id", b"ws-1")],
        "client": ("10.0.0.1", 5555),
        "server": ("test", 80),
        "subprotocols": [],
    }
    incoming = [
        {"type": "websocket.connect"},
        {"type": "websocket.receive", "text": "hello"},
        {"type": "websocket.disconnect", "code": 1000},
    ]
    result = await call(create_app(), scope, incoming=incoming)
    assert result.exc is None
    assert result.header(b"x-request-id") == [b"ws-1"]
    assert [m["text"] for m in result.sent if m["type"] == "websocket.send"] == ["hello"]
    (access,) = logs.access()
    assert (access["status"], access["close_code"], access["messages_in"]) == (101, 1000, 1)
    assert {line["request_id"] for line in logs.lines()} == {"ws-1"}


def test_create_app_leaves_logging_alone(logs: LogCapture) -> None:
    """``create_app()`` configures nothing process-wide: the test's handler stays the only one."""
    import logging

    before = logging.getLogger().handlers[:]
    create_app()
    assert logging.getLogger().handlers == before


def test_cli_usage(capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown argument prints the usage on stderr and exits 2; ``--help`` on stdout, 0."""
    assert cli(["bogus"]) == 2
    assert "usage: python -m example_app [demo]" in capsys.readouterr().err
    assert cli(["--help"]) == 0
    assert "usage: python -m example_app [demo]" in capsys.readouterr().out


def test_demo_without_sentry_sdk_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without sentry-sdk the demo starts nothing, names the install command and exits 2."""
    import importlib.util

    from example_app import demo

    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, *args: Any) -> Any:
        return None if name == "sentry_sdk" else real_find_spec(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    assert demo.run() == 2
    assert 'pip install -e ".[example,sentry]"' in capsys.readouterr().err


# --- the demo's verdict ------------------------------------------------------------------------


def _as_expected() -> tuple[list[Reply], list[dict[str, Any]], list[dict[str, Any]]]:
    """Replies, log lines and events exactly as the demo expects them."""
    replies, lines, events = [], [], []
    for number, probe in enumerate(PROBES):
        request_id, trace_id = f"id-{number}", f"{number:032x}"
        replies.append(Reply(probe, probe.status, request_id))
        for path in probe.expected_access:
            lines.append(
                {"logger": "asgi_obs.access", "path": path, "request_id": request_id, "trace_id": trace_id}
            )
        for _ in range(probe.events):
            events.append({"tags": {"request_id": request_id}, "contexts": {"trace": {"trace_id": trace_id}}})
    return replies, lines, events


def test_demo_verdict_accepts_the_expected_observations() -> None:
    """One event per failing route and none elsewhere: no row has a problem."""
    rows, stray = evaluate(*_as_expected())
    assert [row.problems for row in rows] == [[]] * len(PROBES)
    assert stray == []


def _break(kind: str, replies: list[Reply], lines: list[dict[str, Any]], events: list[dict[str, Any]]) -> str:
    """Spoil one observation; return the label of the row that must now fail."""
    boom = next(r for r in replies if r.probe.path == "/boom")
    not_found = next(r for r in replies if r.probe.path == "/http-error/404")
    if kind == "duplicate event":
        events.append(next(e for e in events if e["tags"]["request_id"] == boom.request_id))
        return boom.probe.label
    if kind == "event for a 404":
        events.append({"tags": {"request_id": not_found.request_id}})
        return not_found.probe.label
    if kind == "wrong status":
        boom.status = 200
        return boom.probe.label
    if kind == "no id":
        not_found.request_id = None
        return not_found.probe.label
    if kind == "health logged":
        health = next(r for r in replies if r.probe.path == "/health")
        lines.append({"logger": "asgi_obs.access", "path": "/health", "request_id": health.request_id})
        return health.probe.label
    assert kind == "two traces"
    lines.append({"logger": "example_app", "request_id": boom.request_id, "trace_id": "f" * 32})
    return boom.probe.label


@pytest.mark.parametrize(
    "kind", ["duplicate event", "event for a 404", "wrong status", "no id", "health logged", "two traces"]
)
def test_demo_verdict_flags_the_row_that_differs(kind: str) -> None:
    """Each kind of deviation makes exactly its row fail, so the demo exits non-zero."""
    replies, lines, events = _as_expected()
    label = _break(kind, replies, lines, events)
    rows, _ = evaluate(replies, lines, events)
    assert [row.reply.probe.label for row in rows if row.problems] == [label]


def test_demo_verdict_reports_stray_events() -> None:
    """An event tagged with none of the demo's request ids is reported as stray."""
    replies, lines, events = _as_expected()
    events.append({"tags": {"request_id": "someone-else"}})
    _, stray = evaluate(replies, lines, events)
    assert stray == [{"tags": {"request_id": "someone-else"}}]


# --- lint: no asyncio.run() inside the app, no time.sleep() in async code ------------------------


def _is_main_guard(node: ast.AST) -> bool:
    test = node.test if isinstance(node, ast.If) else None
    return (
        isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id == "__name__"
        and len(test.comparators) == 1
        and isinstance(test.comparators[0], ast.Constant)
        and test.comparators[0].value == "__main__"
    )


def _dotted_name(node: ast.expr) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return ".".join([node.id, *reversed(parts)])


def blocking_calls(source: str) -> list[str]:
    """``asyncio.run(`` outside ``if __name__ == "__main__"``, ``time.sleep(`` inside ``async def``.

    Import aliases (``from asyncio import run``, ``import time as t``) are followed.
    """
    tree = ast.parse(source)
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            aliases.update({a.asname or a.name: a.name for a in node.names})
        elif isinstance(node, ast.ImportFrom) and node.module:
            aliases.update({a.asname or a.name: f"{node.module}.{a.name}" for a in node.names})
    found: list[str] = []

    def visit(node: ast.AST, in_async: bool, in_guard: bool) -> None:
        if isinstance(node, ast.Call):
            name = _dotted_name(node.func)
            if name is not None:
                head, _, rest = name.partition(".")
                qualified = ".".join(filter(None, [aliases.get(head, head), rest]))
                if qualified == "asyncio.run" and not in_guard:
                    found.append(f"line {node.lineno}: asyncio.run() outside the __main__ guard")
                if qualified == "time.sleep" and in_async:
                    found.append(f"line {node.lineno}: time.sleep() inside async def")
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            in_async = isinstance(node, ast.AsyncFunctionDef)
        if _is_main_guard(node):
            assert isinstance(node, ast.If)
            for child in node.body:
                visit(child, in_async, True)
            for child in node.orelse:
                visit(child, in_async, in_guard)
            return
        for child in ast.iter_child_nodes(node):
            visit(child, in_async, in_guard)

    visit(tree, False, False)
    return found


# Sources the checker must flag (True) or accept (False): it must be able to fail.
@pytest.mark.parametrize(
    ("source", "flagged"),
    [
        ("import asyncio\nasyncio.run(main())", True),
        ("from asyncio import run\ndef f():\n    run(main())", True),
        ("import asyncio as aio\nasync def f():\n    aio.run(g())", True),
        ("import asyncio\nif __name__ == '__main__':\n    asyncio.run(main())", False),
        ("import asyncio\nif __name__ == '__main__':\n    pass\nelse:\n    asyncio.run(main())", True),
        ("import time\nasync def f():\n    time.sleep(1)", True),
        ("from time import sleep as nap\nasync def f():\n    if x:\n        nap(1)", True),
        ("import time\ndef f():\n    time.sleep(1)", False),
        ("import time\nasync def f():\n    def g():\n        time.sleep(1)\n    await to_thread(g)", False),
        ("import asyncio\nasync def f():\n    await asyncio.sleep(1)", False),
    ],
)
def test_blocking_call_checker(source: str, flagged: bool) -> None:
    """The checker finds asyncio.run() and blocking sleeps where they do harm, and only there."""
    assert bool(blocking_calls(source)) is flagged


@pytest.mark.parametrize("path", sorted(EXAMPLE_APP.glob("*.py")), ids=lambda p: p.name)
def test_example_app_has_no_blocking_calls(path: Path) -> None:
    """No example_app module calls asyncio.run() in the app or time.sleep() in async code."""
    assert blocking_calls(path.read_text(encoding="utf-8")) == []


# --- with Sentry (these run last: see conftest) ------------------------------------------------

# Route, and the Sentry events expected for one request to it.
SENTRY_ROUTES = [
    ("/", 0),
    ("/users/7", 0),
    ("/conversations/active", 0),
    ("/slow", 0),
    ("/boom", 1),
    ("/http-error/404", 0),
    ("/http-error/500", 1),
    ("/http-error/503", 1),
    ("/stream", 0),
    ("/stream-fail", 1),
    ("/health", 0),
    ("/downstream", 0),
]


@pytest.mark.sentry
async def test_one_sentry_event_per_failure(logs: LogCapture) -> None:
    """Every failing route gives exactly one event, tagged with its request id and trace; others none."""
    transport = sentry_support.MemoryTransport()
    sentry_support.init(transport)  # before create_app(): the integration patches route construction
    statuses = {}
    async with example_client() as http:
        for number, (path, _) in enumerate(SENTRY_ROUTES):
            response = await http.get(path, headers={"X-Request-ID": f"sentry-{number}"})
            statuses[path] = response.status_code
    assert statuses["/http-error/404"] == 404
    assert statuses["/health"] == 200
    for number, (path, expected) in enumerate(SENTRY_ROUTES):
        request_id = f"sentry-{number}"
        events = [e for e in transport.events if e["tags"]["request_id"] == request_id]
        assert len(events) == expected, path
        trace_ids = {line["trace_id"] for line in logs.lines() if line["request_id"] == request_id}
        trace_ids |= {event["contexts"]["trace"]["trace_id"] for event in events}
        assert len(trace_ids) <= 1, path
    assert len(transport.events) == sum(expected for _, expected in SENTRY_ROUTES)
    (boom,) = [e for e in transport.events if e["tags"]["request_id"] == "sentry-4"]
    assert boom["exception"]["values"][-1]["value"] == "boom: an unhandled error in an endpoint"
    # The request's own lines only: its INFO line, then its access record (the event is captured
    # once the response is delivered, so the access record is already a breadcrumb).
    assert [c["message"] for c in boom["breadcrumbs"]["values"]] == [
        "About to fail on purpose",
        "GET /boom 500",
    ]


@pytest.mark.sentry
async def test_health_reports_sentry(logs: LogCapture) -> None:
    """With a Sentry client active, ``/health`` says so."""
    sentry_support.init(sentry_support.MemoryTransport())
    async with example_client() as http:
        response = await http.get("/health")
    assert response.json() == {"status": "ok", "sentry": True}


@pytest.mark.sentry
def test_sentry_helpers_are_no_ops_without_a_dsn() -> None:
    """A client initialised without a DSN sends nothing: sentry_enabled() says so, set_user() skips."""
    import sentry_sdk

    sentry_support.disable()  # sentry_sdk.init(dsn=None): a client sentry-sdk calls "active"
    assert sentry_sdk.get_client().is_active()
    assert sentry_utils.sentry_enabled() is False
    assert sentry_utils.set_user(7) is False


@pytest.mark.sentry
def test_set_user_attaches_the_user_to_events() -> None:
    """``set_user()`` puts the user on the events of the current scope only."""
    import sentry_sdk

    transport = sentry_support.MemoryTransport()
    sentry_support.init(transport)
    with sentry_sdk.isolation_scope():
        assert sentry_utils.set_user(7) is True
        sentry_sdk.capture_message("with user")
    sentry_sdk.capture_message("without user")
    assert [event.get("user") for event in transport.events] == [{"id": "7"}, None]
