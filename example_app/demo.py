"""``python -m example_app demo``: the example service at work, in one command.

1. Start a Sentry envelope sink on 127.0.0.1 (:mod:`example_app.demo_sink`), then the app itself:
   ``python -m example_app`` on a free loopback port, ``SENTRY_DSN`` pointing at the sink.
2. Call every route once (the WebSocket too, when the ``websockets`` package is installed).
3. Stop the app by its PID with SIGTERM: a graceful exit, so Sentry flushes its queue.
4. Print the app's JSON log lines grouped by ``request_id``, then one row per request: status,
   ``X-Request-ID``, and the Sentry events the sink received for that request id.

Exits 0 when every row is as expected: one Sentry event per failure (``/boom``,
``/http-error/503``, ``/stream-fail``), none for the rest, one access record per request (none
for the healthy ``/health``), one trace id per request. Nothing leaves 127.0.0.1. The output
uses ``rich`` when it is installed, plain text otherwise.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import httpx

# The directory holding example_app/: the app process is started there, so that it imports the
# same example_app (and, in a checkout, the same asgi_obs) as this one.
_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Probe:
    """One request the demo makes, and what it should observe."""

    path: str
    status: int
    events: int  # Sentry events expected for the request
    # Paths of the access records expected under the request's id, in completion order.
    access: tuple[str, ...] | None = None
    websocket: bool = False

    @property
    def expected_access(self) -> tuple[str, ...]:
        return (self.path,) if self.access is None else self.access

    @property
    def label(self) -> str:
        return f"{'WS' if self.websocket else 'GET'} {self.path}"


PROBES = (
    Probe("/", 200, 0),
    Probe("/users/7", 200, 0),
    Probe("/conversations/active", 200, 0),
    Probe("/slow", 200, 0),
    Probe("/boom", 500, 1),
    Probe("/http-error/404", 404, 0),
    Probe("/http-error/503", 503, 1),
    Probe("/stream", 200, 0),
    Probe("/stream-fail", 200, 1),
    Probe("/health", 200, 0, access=()),  # skip_paths: no access record while healthy
    # The downstream call carries this request's X-Request-ID: both records share the id.
    Probe("/downstream", 200, 0, access=("/users/7", "/downstream")),
    Probe("/ws", 101, 0, websocket=True),
)


@dataclass
class Reply:
    """What the client saw."""

    probe: Probe
    status: int
    request_id: str | None
    note: str = ""


@dataclass
class Row:
    """One request, checked against its probe."""

    reply: Reply
    events: list[dict[str, Any]]
    problems: list[str] = field(default_factory=list)


def _tag(event: dict[str, Any], name: str) -> Any:
    return (event.get("tags") or {}).get(name)


def _event_trace_id(event: dict[str, Any]) -> Any:
    return ((event.get("contexts") or {}).get("trace") or {}).get("trace_id")


def evaluate(
    replies: list[Reply], lines: list[dict[str, Any]], events: list[dict[str, Any]]
) -> tuple[list[Row], list[dict[str, Any]]]:
    """Check each reply against the log lines and Sentry events; also return the stray events.

    A stray event is one whose ``request_id`` tag names none of the replies.
    """
    rows = []
    for reply in replies:
        probe, request_id = reply.probe, reply.request_id
        mine = [event for event in events if request_id and _tag(event, "request_id") == request_id]
        row = Row(reply, mine)
        if reply.status != probe.status:
            row.problems.append(f"status {reply.status}, expected {probe.status}")
        if not request_id:
            row.problems.append("no X-Request-ID")
        if len(mine) != probe.events:
            row.problems.append(f"{len(mine)} Sentry events, expected {probe.events}")
        own_lines = [line for line in lines if request_id and line.get("request_id") == request_id]
        access = tuple(line.get("path") for line in own_lines if line.get("logger") == "asgi_obs.access")
        if access != probe.expected_access:
            row.problems.append(f"access records for {list(access)}, expected {list(probe.expected_access)}")
        trace_ids = {line.get("trace_id") for line in own_lines} | {_event_trace_id(e) for e in mine}
        if len(trace_ids) > 1:
            row.problems.append(f"{len(trace_ids)} different trace ids")
        rows.append(row)
    known = {reply.request_id for reply in replies if reply.request_id}
    stray = [event for event in events if _tag(event, "request_id") not in known]
    return rows, stray


class _AppProcess:
    """``python -m example_app`` in a subprocess; stdout and stderr collected line by line."""

    def __init__(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "example_app"],
            cwd=_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._pumps = [
            threading.Thread(target=self._pump, args=(self.proc.stdout, self.stdout), daemon=True),
            threading.Thread(target=self._pump, args=(self.proc.stderr, self.stderr), daemon=True),
        ]
        for pump in self._pumps:
            pump.start()

    @staticmethod
    def _pump(stream: TextIO, sink: list[str]) -> None:
        for line in stream:
            sink.append(line.rstrip("\n"))

    def wait_ready(self, timeout: float = 20.0) -> bool:
        """Wait for uvicorn's "running on" line; ``False`` if the process died or took too long."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            if any("Uvicorn running on" in line for line in list(self.stdout)):
                return True
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        """SIGTERM by PID (uvicorn shuts down, Sentry flushes); SIGKILL after 10 s."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            deadline = time.monotonic() + 10
            while self.proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            if self.proc.poll() is None:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        for pump in self._pumps:
            pump.join(timeout=5)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


def _free_loopback_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _call(http: httpx.Client, probe: Probe) -> Reply:
    with http.stream("GET", probe.path) as response:
        reply = Reply(probe, response.status_code, response.headers.get("x-request-id"))
        try:
            response.read()
        except httpx.RemoteProtocolError as exc:
            # What a client of /stream-fail sees: the 200 was sent, then the connection was
            # closed mid-body. It is part of the demo's output, in the check column.
            reply.note = f"body truncated ({type(exc).__name__})"
    return reply


def _call_websocket(port: int, probe: Probe) -> Reply:
    from websockets.sync.client import connect

    with connect(f"ws://127.0.0.1:{port}{probe.path}", open_timeout=10, close_timeout=5) as ws:
        handshake = ws.response
        assert handshake is not None  # connect() returns once the handshake succeeded
        reply = Reply(probe, handshake.status_code, handshake.headers.get("x-request-id"))
        ws.send("hello")
        reply.note = f"echoed {ws.recv(timeout=10)!r}"
    return reply


def _call_every_route(port: int) -> tuple[list[Reply], list[str]]:
    """One request per probe; returns the replies and the probes skipped (with the reason)."""
    replies, skipped = [], []
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10.0) as http:
        for probe in PROBES:
            if not probe.websocket:
                replies.append(_call(http, probe))
            elif importlib.util.find_spec("websockets") is None:
                skipped.append(f"{probe.label}: skipped, the websockets package is not installed")
            else:
                replies.append(_call_websocket(port, probe))
    return replies, skipped


def _shown(line: dict[str, Any]) -> str:
    """A log line as JSON, its traceback cut to its last line (the app itself writes it whole)."""
    if isinstance(line.get("exc_info"), str):
        traceback = line["exc_info"].splitlines()
        line = {**line, "exc_info": f"<traceback, {len(traceback)} lines> {traceback[-1]}"}
    return json.dumps(line, ensure_ascii=False)


def _groups(replies: list[Reply], lines: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    """The lines grouped by request id, in request order; lines outside any request last."""
    by_id: dict[Any, list[dict[str, Any]]] = {}
    for line in lines:
        by_id.setdefault(line.get("request_id"), []).append(line)
    titled = [(f"{reply.probe.label}  request_id={reply.request_id}", reply.request_id) for reply in replies]
    titled += [
        ("outside any request" if request_id is None else f"request_id={request_id}", request_id)
        for request_id in by_id
        if request_id not in {reply.request_id for reply in replies}
    ]
    groups = []
    for title, request_id in titled:
        own = by_id.get(request_id, [])
        groups.append((f"{title}  ({len(own)} line{'' if len(own) == 1 else 's'})", own))
    return groups


TABLE_HEADERS = ("route", "status", "X-Request-ID", "events", "event request_id tag", "breadcrumbs", "check")


def _table_cells(row: Row) -> tuple[str, ...]:
    reply = row.reply
    tags = ", ".join(str(_tag(event, "request_id")) for event in row.events) or "-"
    crumbs = ", ".join(str(len((e.get("breadcrumbs") or {}).get("values", []))) for e in row.events) or "-"
    check = "; ".join(row.problems) if row.problems else "ok"
    if reply.note:
        check += f", {reply.note}"
    return (
        reply.probe.label,
        str(reply.status),
        reply.request_id or "-",
        str(len(row.events)),
        tags,
        crumbs,
        check,
    )


class _Plain:
    def heading(self, text: str) -> None:
        print(f"\n{text}\n{'=' * len(text)}")

    def group(self, title: str) -> None:
        print(f"\n-- {title}")

    def line(self, text: str) -> None:
        print(f"   {text}")

    def text(self, text: str) -> None:
        print(text)

    def table(self, rows: list[tuple[str, ...]]) -> None:
        widths = [max(len(cells[i]) for cells in [TABLE_HEADERS, *rows]) for i in range(len(TABLE_HEADERS))]

        def fmt(cells: tuple[str, ...]) -> str:
            return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip()

        print(fmt(TABLE_HEADERS))
        print(fmt(tuple("-" * width for width in widths)))
        for cells in rows:
            print(fmt(cells))

    def verdict(self, ok: bool, text: str) -> None:
        print(f"\n{'OK' if ok else 'FAILED'}: {text}")


class _Rich(_Plain):
    """The same output through ``rich`` (Text objects throughout: log content is never markup)."""

    def __init__(self) -> None:
        from rich.console import Console

        # Piped output has no terminal width: rich would assume 80 columns and squeeze the table.
        self.console = Console(soft_wrap=True, highlight=False, width=None if sys.stdout.isatty() else 200)

    def heading(self, text: str) -> None:
        self.console.rule(text)

    def group(self, title: str) -> None:
        from rich.text import Text

        self.console.print(Text(f"\n{title}", style="bold"))

    def line(self, text: str) -> None:
        from rich.json import JSON

        self.console.print(JSON(text, indent=None))

    def text(self, text: str) -> None:
        from rich.text import Text

        self.console.print(Text(text))

    def table(self, rows: list[tuple[str, ...]]) -> None:
        from rich.table import Column, Table
        from rich.text import Text

        table = Table(*(Column(header, overflow="fold") for header in TABLE_HEADERS))  # ids never cut
        for cells in rows:
            table.add_row(*map(Text, cells), style=None if cells[-1].startswith("ok") else "red")
        self.console.print(table, soft_wrap=False)

    def verdict(self, ok: bool, text: str) -> None:
        from rich.text import Text

        word = Text("OK", style="bold green") if ok else Text("FAILED", style="bold red")
        self.console.print(Text.assemble("\n", word, f": {text}"))


def run() -> int:
    """Run the demo; the exit status is 0 when every request was observed as expected."""
    if importlib.util.find_spec("sentry_sdk") is None:
        print(
            "The demo needs sentry-sdk: the app reports its failures to a local Sentry sink.\n"
            'Install it with: pip install -e ".[example,sentry]"',
            file=sys.stderr,
        )
        return 2
    from .demo_sink import EnvelopeSink  # imports sentry_sdk, to parse the envelopes

    # Everything the demo talks to is on 127.0.0.1: a proxy setting must not send it elsewhere
    # (httpx, websockets and sentry-sdk all honour these variables).
    for name in [name for name in os.environ if name.lower().endswith("_proxy")]:
        del os.environ[name]
    out = _Rich() if importlib.util.find_spec("rich") is not None else _Plain()
    port = _free_loopback_port()
    with EnvelopeSink().running() as sink:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("LOG_SUPPRESS_")},
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "SENTRY_DSN": sink.dsn,
            "LOG_LEVEL": "INFO",  # INFO lines are the events' breadcrumbs
            "PYTHONUNBUFFERED": "1",
        }
        app = _AppProcess(env)
        try:
            if not app.wait_ready():
                app.stop()
                print("\n".join(["The app did not start:", *app.stdout, *app.stderr]), file=sys.stderr)
                return 1
            print(f"example_app (pid {app.proc.pid}) on http://127.0.0.1:{port}, Sentry sink at {sink.dsn}")
            replies, skipped = _call_every_route(port)
        finally:
            app.stop()  # before reading the sink: the SIGTERM exit flushes Sentry's queue
        events = sink.received()

    lines = [json.loads(text) for text in app.stdout if text.startswith("{")]
    not_json = [text for text in app.stdout if text.strip() and not text.startswith("{")]
    rows, stray = evaluate(replies, lines, events)

    out.heading(f"(a) {len(lines)} JSON log lines from the app, grouped by request_id")
    for title, group in _groups(replies, lines):
        out.group(title)
        for line in group:
            out.line(_shown(line))
    for text in not_json + app.stderr:
        out.text(f"not a JSON line: {text}")

    out.heading("(b) one row per request: status, X-Request-ID, Sentry events at the sink")
    out.table([_table_cells(row) for row in rows])
    for reason in skipped:
        out.text(reason)

    failed = [row.reply.probe.label for row in rows if row.problems]
    problems = [f"{len(failed)} rows differ: {', '.join(failed)}"] if failed else []
    if stray:
        problems.append(f"{len(stray)} Sentry events carry no request id of these requests")
    if not_json or app.stderr:
        problems.append(f"{len(not_json) + len(app.stderr)} output lines are not JSON on stdout")
    if problems:
        out.verdict(False, "; ".join(problems))
        return 1
    failures = [row.reply.probe.label for row in rows if row.events]
    out.verdict(
        True,
        f"{len(rows)} requests as expected: {len(events)} Sentry events, one per failure "
        f"({', '.join(failures)}), none for the others; one trace id per request id.",
    )
    return 0
