"""The configurations the benchmarks compare, each one a function building an ASGI app.

Every builder takes the path of a real file and sets up everything the configuration needs to log
its access lines there: ``asgi_obs.init_structured_logging(stream=...)`` for the library rows, a
stdlib ``logging.StreamHandler`` for the "common choice", a binary file written directly for the
floor. Each builder mutates process-wide state (the root logger, ``sentry_sdk.init``), so a
configuration is meant to be built once per process: the harness gives each its own subprocess.

The inner app of every framework row is the same bare Starlette hello app. Optional packages are
imported inside the builders, so this module imports without any of them (the smoke test's
environment has no asgi-correlation-id).
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import logging
import os
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import IO, Any
from uuid import uuid4

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

ID_HEADER = b"x-request-id"
PATH = "/hello"
BODY = b"hello"
SENTRY_DSN = "http://public@127.0.0.1:9/1"  # port 9 (discard): nothing is ever sent anyway


# --------------------------------------------------------------------------- inner apps


async def raw_app(scope: Scope, receive: Receive, send: Send) -> None:
    """The smallest correct ASGI app: what ``PlainTextResponse("hello")`` sends, by hand."""
    if scope["type"] != "http":
        return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-length", b"5"), (b"content-type", b"text/plain; charset=utf-8")],
        }
    )
    await send({"type": "http.response.body", "body": BODY})


def starlette_app() -> ASGIApp:
    """The bare Starlette hello app, the inner app of every framework row."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def hello(request: Request) -> PlainTextResponse:
        return PlainTextResponse("hello")

    return Starlette(routes=[Route(PATH, hello)])


# --------------------------------------------------------------------------- the common choice


class JsonAccessLogMiddleware:
    """The usual hand-written pure-ASGI access log: one stdlib ``logging`` record per request.

    Written when the app returns, with the fields in ``extra=`` so that python-json-logger's
    ``JsonFormatter`` turns them into keys; the request id comes from asgi-correlation-id's
    ``CorrelationIdFilter`` on the handler.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.logger = logging.getLogger("access")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500
        response_bytes = 0

        async def send_wrapper(message: Message) -> None:
            nonlocal status, response_bytes
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                response_bytes += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            headers = dict(scope["headers"])
            client = scope.get("client")
            self.logger.info(
                "%s %s %s",
                scope["method"],
                scope["path"],
                status,
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round((time.perf_counter() - start) * 1000, 3),
                    "response_bytes": response_bytes,
                    "client_ip": client[0] if client else None,
                    "user_agent": headers.get(b"user-agent", b"").decode("latin-1"),
                    "http_version": scope.get("http_version"),
                },
            )


def _common_logging(log_path: str) -> None:
    """Root logger -> ``StreamHandler(file)`` + ``CorrelationIdFilter`` + ``JsonFormatter``."""
    from asgi_correlation_id import CorrelationIdFilter
    from pythonjsonlogger.json import JsonFormatter

    handler = logging.StreamHandler(open(log_path, "a", encoding="utf-8"))  # noqa: SIM115
    handler.addFilter(CorrelationIdFilter())
    handler.setFormatter(
        JsonFormatter("%(levelname)s %(name)s %(message)s %(correlation_id)s", timestamp=True)
    )
    _replace_root_handlers(handler)


def _replace_root_handlers(handler: logging.Handler | None) -> None:
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    if handler is not None:
        root.addHandler(handler)
    root.setLevel(logging.INFO)


# --------------------------------------------------------------------------- the floor

_floor_request_id: ContextVar[str | None] = ContextVar("floor_request_id", default=None)
_FLOOR_VALID_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")


class FloorMiddleware:
    """The least a request-id + JSON access log layer can do: the floor the library is held to.

    Takes a valid incoming ``X-Request-ID`` or generates ``uuid4().hex``, keeps it in a
    ContextVar for the request, appends it to the response headers, and when the app returns
    writes one orjson line straight to ``stream`` (unbuffered: every line reaches the file
    before the next request, as a ``StreamHandler`` that flushes per record does).
    """

    def __init__(self, app: ASGIApp, stream: IO[bytes]) -> None:
        import orjson

        self.app, self.stream, self.dumps = app, stream, orjson.dumps

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter_ns()
        request_id = None
        for name, value in scope["headers"]:
            if name == ID_HEADER:
                text = value.decode("latin-1")
                request_id = text if _FLOOR_VALID_ID.fullmatch(text) else None
        request_id = request_id or uuid4().hex
        id_header = (ID_HEADER, request_id.encode("ascii"))
        status, response_bytes = 500, 0

        async def send_wrapper(message: Message) -> None:
            nonlocal status, response_bytes
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), id_header]
            elif message["type"] == "http.response.body":
                response_bytes += len(message.get("body", b""))
            await send(message)

        token = _floor_request_id.set(request_id)
        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            _floor_request_id.reset(token)
            client = scope.get("client")
            line = self.dumps(
                {
                    "timestamp": dt.datetime.now(dt.timezone.utc).isoformat(),
                    "level": "INFO",
                    "message": f"{scope['method']} {scope['path']} {status}",
                    "request_id": request_id,
                    "status": status,
                    "duration_ms": round((time.perf_counter_ns() - start) / 1e6, 3),
                    "response_bytes": response_bytes,
                    "client_ip": client[0] if client else None,
                }
            )
            self.stream.write(line + b"\n")


# --------------------------------------------------------------------------- Sentry


def _init_sentry() -> None:
    """``sentry_sdk.init`` with a transport that drops every envelope, tracing sampled at 0."""
    import sentry_sdk
    from sentry_sdk.transport import Transport

    class NullTransport(Transport):
        def capture_envelope(self, envelope: Any) -> None:
            return None

    sentry_sdk.init(dsn=SENTRY_DSN, transport=NullTransport, traces_sample_rate=0)


# --------------------------------------------------------------------------- the builders


def _asgi_obs_logging(log_path: str) -> None:
    import asgi_obs

    asgi_obs.init_structured_logging("INFO", stream=open(log_path, "a", encoding="utf-8"))  # noqa: SIM115


def build_bare_raw(log_path: str) -> ASGIApp:
    _replace_root_handlers(None)
    return raw_app


def build_bare_starlette(log_path: str) -> ASGIApp:
    _replace_root_handlers(None)
    return starlette_app()


def _build_stack(inner: ASGIApp, *, access_log: bool) -> ASGIApp:
    import asgi_obs

    app: ASGIApp = asgi_obs.build_stack(inner, access_log=access_log)
    return app


def build_asgi_obs(log_path: str) -> ASGIApp:
    _asgi_obs_logging(log_path)
    return _build_stack(starlette_app(), access_log=True)


def build_asgi_obs_full_path(log_path: str) -> ASGIApp:
    """build_stack with a pass-through filter on the access logger: every access record then
    takes the full LogRecord path (no direct emission), the same line."""
    _asgi_obs_logging(log_path)
    logging.getLogger("asgi_obs.access").addFilter(lambda record: True)
    return _build_stack(starlette_app(), access_log=True)


def build_asgi_obs_no_access(log_path: str) -> ASGIApp:
    _asgi_obs_logging(log_path)
    return _build_stack(starlette_app(), access_log=False)


def build_asgi_obs_sentry(log_path: str) -> ASGIApp:
    _init_sentry()  # before the app: Starlette's routing goes through Sentry's patches
    _asgi_obs_logging(log_path)
    return _build_stack(starlette_app(), access_log=True)


def build_asgi_obs_raw(log_path: str) -> ASGIApp:
    _asgi_obs_logging(log_path)
    return _build_stack(raw_app, access_log=True)


def build_common(log_path: str) -> ASGIApp:
    from asgi_correlation_id import CorrelationIdMiddleware

    _common_logging(log_path)
    return CorrelationIdMiddleware(JsonAccessLogMiddleware(starlette_app()))


def build_common_raw(log_path: str) -> ASGIApp:
    from asgi_correlation_id import CorrelationIdMiddleware

    _common_logging(log_path)
    return CorrelationIdMiddleware(JsonAccessLogMiddleware(raw_app))


def build_floor_raw(log_path: str) -> ASGIApp:
    _replace_root_handlers(None)
    return FloorMiddleware(raw_app, open(log_path, "ab", buffering=0))


def build_cid_only(log_path: str) -> ASGIApp:
    from asgi_correlation_id import CorrelationIdMiddleware

    _replace_root_handlers(None)
    return CorrelationIdMiddleware(starlette_app())


def build_sentry_common(log_path: str) -> ASGIApp:
    from asgi_correlation_id import CorrelationIdMiddleware
    from sentry_sdk.integrations.asgi import SentryAsgiMiddleware

    _init_sentry()
    _common_logging(log_path)
    return SentryAsgiMiddleware(CorrelationIdMiddleware(JsonAccessLogMiddleware(starlette_app())))


def build_floor(log_path: str) -> ASGIApp:
    _replace_root_handlers(None)
    return FloorMiddleware(starlette_app(), open(log_path, "ab", buffering=0))


class _WritesTwice:
    """A binary stream that writes everything twice (for the self-test row)."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw

    def write(self, data: bytes) -> int:
        self.raw.write(data)
        return self.raw.write(data) or 0


def build_selftest_refused(log_path: str) -> ASGIApp:
    """The floor writing every line twice: the verification must refuse to time it."""
    _replace_root_handlers(None)
    stream = _WritesTwice(open(log_path, "ab", buffering=0))  # noqa: SIM115
    return FloorMiddleware(starlette_app(), stream)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Config:
    """One row of the tables: how to build it and what the verification expects of it."""

    name: str
    title: str
    build: Callable[[str], ASGIApp]
    baseline: str | None  # the row its overhead is measured against
    echoes_id: bool  # sets X-Request-ID on the response
    access_lines: int  # access lines written per request
    requires: tuple[str, ...]  # importable modules it needs
    default: bool = True  # part of a plain run (the self-test row is not)

    def missing(self) -> list[str]:
        """The required modules that are not installed."""
        return [module for module in self.requires if importlib.util.find_spec(module) is None]


_STARLETTE = ("starlette",)
_OBS = ("asgi_obs", "pythonjsonlogger")
_COMMON = ("asgi_correlation_id", "pythonjsonlogger")

CONFIGS: dict[str, Config] = {
    c.name: c
    for c in [
        Config("bare_raw", "bare raw ASGI app", build_bare_raw, None, False, 0, ()),
        Config("bare_starlette", "bare Starlette app", build_bare_starlette, None, False, 0, _STARLETTE),
        Config(
            "asgi_obs", "build_stack, access log on", build_asgi_obs, "bare_starlette", True, 1,
            _STARLETTE + _OBS,
        ),
        Config(
            "asgi_obs_full_path", "build_stack, access record as a LogRecord", build_asgi_obs_full_path,
            "bare_starlette", True, 1, _STARLETTE + _OBS, default=False,
        ),
        Config(
            "asgi_obs_no_access", "build_stack, access log off", build_asgi_obs_no_access,
            "bare_starlette", True, 0, _STARLETTE + _OBS,
        ),
        Config(
            "asgi_obs_sentry", "build_stack + Sentry (no-op transport)", build_asgi_obs_sentry,
            "bare_starlette", True, 1, (*_STARLETTE, *_OBS, "sentry_sdk"),
        ),
        Config(
            "asgi_obs_raw", "build_stack over the raw app", build_asgi_obs_raw, "bare_raw", True, 1, _OBS,
        ),
        Config(
            "common", "asgi-correlation-id + json access log", build_common, "bare_starlette", True, 1,
            _STARLETTE + _COMMON,
        ),
        Config(
            "common_raw", "common choice over the raw app", build_common_raw, "bare_raw", True, 1,
            _COMMON,
        ),
        Config(
            "floor_raw", "hand-written floor over the raw app", build_floor_raw, "bare_raw", True, 1,
            ("orjson",),
        ),
        Config(
            "cid_only", "asgi-correlation-id alone", build_cid_only, "bare_starlette", True, 0,
            (*_STARLETTE, "asgi_correlation_id"),
        ),
        Config(
            "sentry_common", "SentryAsgiMiddleware + common choice", build_sentry_common,
            "bare_starlette", True, 1, (*_STARLETTE, *_COMMON, "sentry_sdk"),
        ),
        Config(
            "floor", "hand-written floor (orjson)", build_floor, "bare_starlette", True, 1,
            (*_STARLETTE, "orjson"),
        ),
        Config(
            "selftest_refused", "floor writing 2 lines (must be refused)", build_selftest_refused,
            "bare_starlette", True, 1, (*_STARLETTE, "orjson"), default=False,
        ),
    ]
}  # fmt: skip


def select(names: str | None) -> list[Config]:
    """The configurations named in a comma-separated list (all default ones for ``None``)."""
    if not names:
        return [c for c in CONFIGS.values() if c.default]
    chosen = []
    for name in (n.strip() for n in names.split(",") if n.strip()):
        if name not in CONFIGS:
            raise SystemExit(f"unknown configuration {name!r}; known: {', '.join(CONFIGS)}")
        chosen.append(CONFIGS[name])
    return chosen


def create_from_env() -> ASGIApp:
    """uvicorn ``--factory`` entry point: ``BENCH_CONFIG`` names the row, ``BENCH_LOG`` the file."""
    return CONFIGS[os.environ["BENCH_CONFIG"]].build(os.environ["BENCH_LOG"])
