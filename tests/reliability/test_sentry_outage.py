"""Sentry down: one log line per outage, no reconnect storm, events again once it is back.

Real uvicorn serving tests/reliability/sentry_app.py with ``init_sentry()``; Sentry's DSN points
at a port nobody listens on (connection refused), later at a loopback sink on that same port.
Latency is measured by bench/sentry_outage.py, not here: these tests count what the fix
guarantees (lines written, events delivered).
"""

from __future__ import annotations

import http.client
import json
from typing import Any

import pytest

from .. import sentry_support
from ..servers import free_port
from .harness import uvicorn

APP = "tests.reliability.sentry_app:app"


def get(port: int, path: str) -> tuple[int, str | None]:
    """One GET; the status and the ``x-request-id`` the stack answered with."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status, response.getheader("x-request-id")
    finally:
        conn.close()


def records(data: bytes) -> list[dict[str, Any]]:
    return [json.loads(raw) for raw in bytes(data).splitlines()]  # every line is JSON


@pytest.mark.server
def test_sentry_down_one_warning_and_no_retry_lines() -> None:
    """Closed port, 20 failures: all answered with ids; one asgi_obs.sentry WARNING, no urllib3 lines."""
    port, sentry_port = free_port(), free_port()  # nobody listens on sentry_port
    with uvicorn(port, env={"SENTRY_DSN": f"http://public@127.0.0.1:{sentry_port}/1"}, app=APP) as reader:
        answers = [get(port, "/fail") for _ in range(20)]
        assert get(port, "/flush")[0] == 200  # every event was tried (and refused)
    assert [status for status, _ in answers] == [500] * 20
    ids = [request_id for _, request_id in answers]
    assert all(ids) and len(set(ids)) == 20
    lines = records(reader.data)
    assert sorted(line["request_id"] for line in lines if line["logger"] == "asgi_obs.error") == sorted(ids)
    # sentry-sdk's stock transport: urllib3 retried each refused connection three times at once,
    # a "Retrying (...)" WARNING each: 60 lines here, and four connection attempts per event.
    assert [line for line in lines if line["logger"].startswith("urllib3")] == []
    (outage,) = [line for line in lines if line["logger"] == "asgi_obs.sentry"]
    assert outage["level"] == "WARNING"
    assert outage["message"] == "Sentry is not taking events: dropping them until it does"
    assert outage["sentry_drop_reason"] == "network"


@pytest.mark.server
def test_sentry_back_events_delivered_and_the_outage_counted() -> None:
    """Sentry refused 5 events, then comes back: the next 3 arrive, one INFO says 5 were dropped."""
    port, sentry_port = free_port(), free_port()
    with uvicorn(port, env={"SENTRY_DSN": f"http://public@127.0.0.1:{sentry_port}/1"}, app=APP) as reader:
        down = [get(port, "/fail") for _ in range(5)]
        assert get(port, "/flush")[0] == 200  # the 5 were tried while nobody listened
        sink = sentry_support.EnvelopeSink(port=sentry_port)
        with sink.running():
            up = [get(port, "/fail") for _ in range(3)]
            assert get(port, "/flush")[0] == 200
    assert [status for status, _ in down + up] == [500] * 8
    assert sorted(event["tags"]["request_id"] for event in sink.events) == sorted(i for _, i in up)
    outage = [line for line in records(reader.data) if line["logger"] == "asgi_obs.sentry"]
    assert [(line["level"], line["message"]) for line in outage] == [
        ("WARNING", "Sentry is not taking events: dropping them until it does"),
        ("INFO", "Sentry is taking events again"),
    ]
    assert outage[1]["sentry_dropped_events"] == 5
    assert outage[1]["sentry_outage_seconds"] > 0
