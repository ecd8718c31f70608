"""A framework's own ERROR record of a failure, folded into the error layer's one record (DESIGN §12).

Raw ASGI apps play the framework: they log on ``django.request``, or with Quart's
``"Exception on request ..."`` message on a logger of their own, and then answer.
"""

from __future__ import annotations

import contextvars
import io
import json
import logging
from typing import Any

import pytest

from asgi_obs import ContextFilter, CustomJsonFormatter, ServerDuplicateFilter, build_stack

from . import sentry_support
from .asgi import client
from .conftest import LogCapture

pytestmark = pytest.mark.anyio


def framework_app(logger: str, message: str, status: int, *, with_exc: bool = True) -> Any:
    """An app that logs ``message`` at ERROR on ``logger`` (with the exception), then answers ``status``."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        try:
            raise RuntimeError("framework saw it")
        except RuntimeError as exc:
            logging.getLogger(logger).error(message, exc_info=exc if with_exc else None)
        # Sent outside the except block, as Quart and Django do.
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b"x"})

    return app


def _errors(logs: LogCapture) -> list[dict[str, Any]]:
    return [line for line in logs.lines() if line["level"] == "ERROR"]


# The two ways a framework record is recognised: by logger name, by Quart's message on any logger.
@pytest.mark.parametrize(
    ("logger", "message"),
    [("django.request", "Internal Server Error: /x"), ("myapp", "Exception on request GET /x")],
)
async def test_5xx_after_framework_record_is_one_error_with_its_traceback(
    logs: LogCapture, logger: str, message: str
) -> None:
    """Framework logs the exception, then sends a 500: one ERROR, ours, with that traceback."""
    async with client(build_stack(framework_app(logger, message, 500))) as http:
        response = await http.get("/x")
    (error,) = _errors(logs)
    assert (error["logger"], error["absorbed_from"]) == ("asgi_obs.error", logger)
    assert error["request_id"] == response.headers["x-request-id"]
    assert "RuntimeError: framework saw it" in error["exc_info"]
    assert error["error_type"] == "RuntimeError"


async def test_record_without_exception_is_absorbed_too(logs: LogCapture) -> None:
    """Django's "Service Unavailable" ERROR (no exception) before a 503: one ERROR record, ours."""
    app = framework_app("django.request", "Service Unavailable: /x", 503, with_exc=False)
    async with client(build_stack(app)) as http:
        await http.get("/x")
    (error,) = _errors(logs)
    assert (error["logger"], error["status"], error["absorbed_from"]) == (
        "asgi_obs.error",
        503,
        "django.request",
    )
    assert "exc_info" not in error


async def test_held_record_is_written_when_nothing_failed(logs: LogCapture) -> None:
    """The framework logged an ERROR but answered 200: its record is written after all, with the ids."""
    async with client(build_stack(framework_app("django.request", "odd but fine", 200))) as http:
        response = await http.get("/x")
    (error,) = _errors(logs)
    assert (error["logger"], error["message"]) == ("django.request", "odd but fine")
    assert error["request_id"] == response.headers["x-request-id"]
    assert "RuntimeError: framework saw it" in error["exc_info"]
    assert logs.access()[0]["status"] == 200


async def test_outside_a_request_the_record_passes(logs: LogCapture) -> None:
    """No request (no error layer handling one): the framework's record is written as it comes."""
    logging.getLogger("django.request").error("Internal Server Error: /x")
    assert [line["logger"] for line in logs.lines()] == ["django.request"]


async def test_recognition_can_be_turned_off() -> None:
    """ServerDuplicateFilter(framework_loggers=(), framework_prefixes=()): both records are written."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ServerDuplicateFilter(framework_loggers=(), framework_prefixes=()))
    handler.addFilter(ContextFilter())
    handler.setFormatter(CustomJsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        async with client(build_stack(framework_app("django.request", "Internal Server Error", 500))) as http:
            await http.get("/x")
    finally:
        root.removeHandler(handler)
    loggers = [json.loads(line)["logger"] for line in stream.getvalue().splitlines()]
    assert loggers.count("django.request") == 1 and loggers.count("asgi_obs.error") == 1


def test_framework_names_must_be_a_collection() -> None:
    """A single string for framework_loggers is a ValueError naming the option."""
    with pytest.raises(ValueError, match="framework_loggers"):
        ServerDuplicateFilter(framework_loggers="django.request")


@pytest.mark.sentry
async def test_one_sentry_event_without_a_framework_integration(logs: LogCapture) -> None:
    """Sentry's logging integration sees the framework record; with ours it is still one event."""
    transport = sentry_support.MemoryTransport()
    sentry_support.init(transport)
    app = framework_app("myapp", "Exception on request GET /x", 500)
    async with client(build_stack(app)) as http:
        response = await http.get("/x")
    (event,) = transport.events
    assert event["tags"]["request_id"] == response.headers["x-request-id"]
    assert event["exception"]["values"][-1]["value"] == "framework saw it"
    assert len(_errors(logs)) == 1


async def test_record_after_the_request_ended_passes(logs: LogCapture) -> None:
    """A framework record written later in the request's context (a task outliving it) is not held."""
    contexts: list[contextvars.Context] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        contexts.append(contextvars.copy_context())  # what a task spawned here would run in
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"x"})

    async with client(build_stack(app)) as http:
        await http.get("/x")
    contexts[0].run(logging.getLogger("django.request").error, "Internal Server Error: /late")
    assert [line["message"] for line in _errors(logs)] == ["Internal Server Error: /late"]
