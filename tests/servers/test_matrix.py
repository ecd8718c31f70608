"""Every server the README lists, as a real process from its documented command line, x two apps.

Each server is started once with asgi_obs' log config for it (see ``SERVERS``), serving
both apps of ``tests/servers/app.py`` (raw ASGI under ``/raw``, Starlette under
``/starlette``, each wrapped whole with ``build_stack``) with Sentry pointed at a loopback
envelope sink; sends to each app ``/ok``, ``/items/5``, ``/missing``, ``/boom``, ``/http503``, ``/stream``,
``/stream-fail`` and a WebSocket echo; stops it by its PID (Sentry flushes at exit); then each
``test_*`` below checks one promise on what was captured. The pytest report is the README's
"Works with" matrix, server x check.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import asgi_obs

from .. import sentry_support
from . import Response, Server, free_port, get, run_module, websocket_echo

pytestmark = pytest.mark.server

pytest.importorskip("hypercorn")
pytest.importorskip("granian")
pytest.importorskip("daphne")
pytest.importorskip("gunicorn")


@dataclass(frozen=True)
class Recipe:
    """How the README says to start one server: its command line and log config."""

    name: str
    #: ``python -m`` arguments, given the app (``module:attr``), the port and the config file.
    argv: Callable[[str, int, str], list[str]]
    #: The asgi_obs dict written to the config file (``None``: the server has no such option).
    config: Callable[[], dict[str, Any]] | None = None
    env: dict[str, str] = field(default_factory=dict)
    #: The server sends ``websocket.accept`` headers (granian and daphne drop them).
    websocket_headers: bool = True
    #: The server closes a connection whose app failed mid-body (daphne leaves it open).
    aborts_mid_body: bool = True


_UVICORN_WORKER = ["-k", "uvicorn.workers.UvicornWorker", "--no-control-socket"]

SERVERS = [
    Recipe(
        "uvicorn",
        lambda app, port, conf: ["uvicorn", app, "--port", str(port), "--log-config", conf],
        asgi_obs.uvicorn_log_config,
    ),
    Recipe(
        "hypercorn",
        lambda app, port, conf: [
            *("hypercorn", app, "--bind", f"127.0.0.1:{port}"),
            *("--log-config", f"json:{conf}"),
        ],
        asgi_obs.hypercorn_log_config,
    ),
    Recipe(
        "hypercorn-trio",
        lambda app, port, conf: [
            *("hypercorn", "-k", "trio", app, "--bind", f"127.0.0.1:{port}"),
            *("--log-config", f"json:{conf}"),
        ],
        asgi_obs.hypercorn_log_config,
    ),
    Recipe(
        "granian",
        lambda app, port, conf: [
            *("granian", "--interface", "asgi", app, "--host", "127.0.0.1", "--port", str(port)),
            *("--log-config", conf),
        ],
        asgi_obs.granian_log_config,
        websocket_headers=False,
    ),
    # daphne has no dict log config: -v 0 (no access lines, WARNING until the app module's
    # init_structured_logging() sets the level) and init at import (ASGI_OBS_TEST_INIT=1).
    Recipe(
        "daphne",
        lambda app, port, conf: ["daphne", "-v", "0", "-b", "127.0.0.1", "-p", str(port), app],
        env={"ASGI_OBS_TEST_INIT": "1"},
        websocket_headers=False,
        aborts_mid_body=False,
    ),
    # Both gunicorn cells also call init_structured_logging() in the app module, as a user's
    # often does: without --preload after the worker copied gunicorn.error's handler list onto
    # uvicorn.error, with --preload before (the log config alone: tests/test_server_logs.py).
    Recipe(
        "gunicorn",
        lambda app, port, conf: [
            *("gunicorn", *_UVICORN_WORKER, "-b", f"127.0.0.1:{port}", "--log-config-json", conf, app),
        ],
        asgi_obs.gunicorn_log_config,
        env={"ASGI_OBS_TEST_INIT": "1"},
    ),
    # --preload imports the app in the arbiter, before the worker re-binds uvicorn's loggers.
    Recipe(
        "gunicorn-preload",
        lambda app, port, conf: [
            *("gunicorn", "--preload", *_UVICORN_WORKER, "-b", f"127.0.0.1:{port}"),
            *("--log-config-json", conf, app),
        ],
        asgi_obs.gunicorn_log_config,
        env={"ASGI_OBS_TEST_INIT": "1"},
    ),
]
APPS = ["raw", "starlette"]

#: Paths sent in every cell; the failures among them, and the Sentry events each must give.
PATHS = ["/ok", "/items/5", "/missing", "/boom", "/http503", "/stream", "/stream-fail"]
EVENTS = {"/boom": 1, "/http503": 1, "/stream-fail": 1}
#: Server messages echoing a failure asgi_obs already logged (none may reach the output).
ECHOES = (
    "Exception in ASGI application",
    "Error in ASGI Framework",
    "Application callable raised an exception",
    "Exception inside application",
)


@dataclass
class Served:
    """What one server process showed: per app, the responses; its output; the Sentry events."""

    recipe: Recipe
    responses: dict[str, dict[str, Response]]
    websockets: dict[str, tuple[str, str | None] | Exception]
    stdout: list[str]
    stderr: list[str]
    events: list[dict[str, Any]]


@dataclass
class Run:
    """One cell: one app's requests under one server, with that process's whole output."""

    recipe: Recipe
    app: str
    responses: dict[str, Response]
    websocket: tuple[str, str | None] | Exception
    stdout: list[str]
    stderr: list[str]
    events: list[dict[str, Any]]

    def lines(self) -> list[dict[str, Any]]:
        """Every stdout line parsed (a line that is not JSON fails the test)."""
        return [json.loads(line) for line in self.stdout if line.strip()]

    def ids(self) -> set[str]:
        """The request ids of this app's HTTP responses."""
        return {rid for response in self.responses.values() for rid in response.request_ids}

    def by_id(self, path: str, logger: str) -> list[dict[str, Any]]:
        (request_id,) = self.responses[path].request_ids
        lines = self.lines()
        return [line for line in lines if line["logger"] == logger and line["request_id"] == request_id]


def _serve(recipe: Recipe, conf_dir: Path, sink: sentry_support.EnvelopeSink) -> Served:
    conf = conf_dir / f"{recipe.name}.json"
    if recipe.config is not None:
        conf.write_text(json.dumps(recipe.config()))
    port = free_port()
    env = {"SENTRY_DSN": sink.dsn, **recipe.env}
    responses: dict[str, dict[str, Response]] = {}
    websockets: dict[str, tuple[str, str | None] | Exception] = {}
    server: Server
    with run_module(recipe.argv("tests.servers.app:both", port, str(conf)), port=port, env=env) as server:
        for app in APPS:
            # A server that leaves a failed response open is waited for briefly: what a client sees.
            timeout = 5 if recipe.aborts_mid_body else 0.5
            responses[app] = {path: get(port, f"/{app}{path}", timeout=timeout) for path in PATHS}
            try:
                websockets[app] = websocket_echo(port, f"/{app}/ws")
            except Exception as exc:  # noqa: BLE001 - the WebSocket check reports it
                websockets[app] = exc
        server.wait_for_count(lambda line: '"asgi_obs.access"' in line, len(APPS) * (len(PATHS) + 1))
    return Served(recipe, responses, websockets, server.stdout, server.stderr, sink.events)


@pytest.fixture(scope="module", params=SERVERS, ids=lambda recipe: recipe.name)
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One server process serving both apps (``tests.servers.app:both``), run once per module."""
    recipe: Recipe = request.param
    with sentry_support.EnvelopeSink().running() as sink:
        yield _serve(recipe, tmp_path_factory.mktemp(recipe.name), sink)


# Each check runs per server x app: the two apps share the process (and its stdout/stderr).
@pytest.fixture(params=APPS)
def run(served: Served, request: pytest.FixtureRequest) -> Run:
    app: str = request.param
    return Run(
        served.recipe,
        app,
        served.responses[app],
        served.websockets[app],
        served.stdout,
        served.stderr,
        served.events,
    )


def test_json_lines_only(run: Run) -> None:
    """stdout holds JSON lines only and stderr nothing: the server's own lines included."""
    for line in run.stdout:
        json.loads(line)
    assert run.stderr == []
    assert any(line["logger"].split(".")[0] in _SERVER_ROOTS for line in run.lines())


_SERVER_ROOTS = {"uvicorn", "hypercorn", "_granian", "daphne", "gunicorn"}


def test_request_id_on_every_response(run: Run) -> None:
    """Each HTTP response carries exactly one X-Request-ID, the 404 and the 500s included."""
    assert {path: len(r.request_ids) for path, r in run.responses.items()} == dict.fromkeys(PATHS, 1)


def test_one_access_record_per_request(run: Run) -> None:
    """One access record per request, with the status sent (the WebSocket's included)."""
    for path, response in run.responses.items():
        (access,) = run.by_id(path, "asgi_obs.access")
        assert (access["path"], access["status"]) == (path, response.status)
    access = [line for line in run.lines() if line["logger"] == "asgi_obs.access"]
    assert len(access) == len(APPS) * (len(PATHS) + 1)  # nothing else, nothing twice
    assert [line["method"] for line in access].count("WEBSOCKET") == len(APPS)


def test_boom_is_one_500_with_one_traceback(run: Run) -> None:
    """/boom: a 500 and exactly one ERROR record for it, ours, with the traceback."""
    assert run.responses["/boom"].status == 500
    errors = [line for line in run.lines() if line["level"] == "ERROR"]
    (error,) = run.by_id("/boom", "asgi_obs.error")
    assert "RuntimeError: boom" in error["exc_info"]
    assert [line for line in errors if line["request_id"] == error["request_id"]] == [error]


def test_failure_after_the_response_started(run: Run) -> None:
    """/stream-fail: the first chunk arrives, the body is cut, one ERROR with traceback, aborted.

    daphne does not close such a connection (a documented limitation): the client waits for
    the rest until its own timeout. Asserted as it is, so this fails the day daphne closes it.
    """
    response = run.responses["/stream-fail"]
    assert (response.status, response.body, response.complete) == (200, b"a", False)
    assert response.ended == ("cut" if run.recipe.aborts_mid_body else "timeout")
    (error,) = run.by_id("/stream-fail", "asgi_obs.error")
    assert "RuntimeError: stream boom" in error["exc_info"]
    (access,) = run.by_id("/stream-fail", "asgi_obs.access")
    assert access["outcome"] == "aborted"


def test_each_traceback_once(run: Run) -> None:
    """Each traceback once: only the error records carry one, one per failed request, no echo."""
    # Per line: a chained exception is one record whose text holds two "Traceback"s; Starlette's
    # HTTPException(503) record carries its traceback too (it was handled in an except block).
    with_traceback = [line for line in run.stdout + run.stderr if "Traceback (most recent call last)" in line]
    records = [json.loads(line) for line in with_traceback]
    assert [record["logger"] for record in records] == ["asgi_obs.error"] * len(records)
    paths = sorted(record["path"] for record in records if record["request_id"] in run.ids())
    assert paths in (["/boom", "/stream-fail"], ["/boom", "/http503", "/stream-fail"]), paths
    output = "\n".join(run.stdout + run.stderr)
    assert [echo for echo in ECHOES if echo in output] == []


def test_sentry_one_event_per_failure(run: Run) -> None:
    """One Sentry event per failed request, tagged with its id; none else (no server echo event)."""
    ids = {run.responses[path].request_ids[0]: path for path in PATHS}
    counts = dict.fromkeys(PATHS, 0)
    for event in run.events:
        request_id = (event.get("tags") or {}).get("request_id")
        if request_id in ids or request_id is None:  # the other app's events are its cell's
            path = ids.get(request_id, "untagged")
            counts[path] = counts.get(path, 0) + 1
    assert counts == {path: EVENTS.get(path, 0) for path in PATHS}
    assert len(run.events) == len(APPS) * sum(EVENTS.values())


def test_websocket_echo_and_handshake_id(run: Run) -> None:
    """The WebSocket echoes; its handshake has X-Request-ID unless the server drops accept headers.

    granian and daphne ignore ``websocket.accept`` headers (a documented limitation): asserted as
    it is, so this fails the day they send them.
    """
    assert not isinstance(run.websocket, Exception), run.websocket
    echo, request_id = run.websocket
    assert echo == "hello"
    assert (request_id is not None) == run.recipe.websocket_headers, request_id
