"""The example app as a process: ``python -m example_app`` and ``python -m example_app demo``."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from example_app.demo import PROBES

from .servers import run_module

pytestmark = pytest.mark.server

ROOT = Path(__file__).resolve().parent.parent


def test_python_m_example_app_serves_json_lines(free_port: Callable[[], int]) -> None:
    """A real request to ``python -m example_app``: every stdout line is JSON, the request's carry its id."""
    with run_module(["example_app"], port=free_port()) as server:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback only
        request = urllib.request.Request(server.url + "/users/7", headers={"X-Request-ID": "served-1"})
        with opener.open(request, timeout=5) as response:
            assert response.status == 200
            assert response.headers["X-Request-ID"] == "served-1"
            assert json.loads(response.read()) == {"id": 7, "name": "user-7"}
        server.wait_for(lambda line: '"GET /users/7 200"' in line)
    lines = server.json_lines()  # fails on any line that is not JSON
    assert server.stderr == []
    (start,) = [line for line in lines if line["message"] == "Starting example_app"]
    assert (start["host"], start["port"], start["request_id"]) == ("127.0.0.1", server.port, None)
    mine = [line for line in lines if line["request_id"] == "served-1"]
    assert [(line["logger"], line["message"]) for line in mine] == [
        ("example_app", "User fetched"),
        ("asgi_obs.access", "GET /users/7 200"),
    ]
    assert mine[0]["user_id"] == 7
    assert len({line["trace_id"] for line in mine}) == 1


def test_demo_exits_0_with_its_table() -> None:
    """``python -m example_app demo`` passes every row, prints the table, and stops the app it started."""
    env = {k: v for k, v in os.environ.items() if k not in ("SENTRY_DSN", "LOG_LEVEL")}
    done = subprocess.run(
        [sys.executable, "-m", "example_app", "demo"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "(a) " in out and "(b) one row per request" in out
    for column in ("route", "status", "X-Request-ID", "events", "event request_id tag", "breadcrumbs"):
        assert column in out
    for probe in PROBES:
        assert re.search(rf"{re.escape(probe.label)}\s.*\b{probe.status}\b", out), probe.label
    assert "OK: 12 requests as expected: 3 Sentry events, one per failure" in out
    match = re.search(r"example_app \(pid (\d+)\)", out)
    assert match is not None
    with pytest.raises(ProcessLookupError):
        os.kill(int(match.group(1)), 0)  # the app process is gone
