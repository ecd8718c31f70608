"""The README's framework quick starts, extracted by their marker comment and run as pasted.

Each snippet is executed as a module of its own (stdout captured, so ``init_structured_logging()``
writes there), then driven in-process: one request, its JSON lines parsed.
"""

from __future__ import annotations

import io
import json
import re
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..asgi import client

README = Path(__file__).resolve().parents[2] / "README.md"


def snippet(name: str) -> str:
    """The ```python block right after ``<!-- recipe: name -->`` in the README."""
    match = re.search(rf"<!-- recipe: {name} -->\n```python\n(.*?)```", README.read_text(), re.S)
    assert match is not None, f"README has no recipe marked {name!r}"
    return match.group(1)


@pytest.fixture
def stdout(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """Capture what the snippet's init_structured_logging() writes to stdout; restore logging after."""
    import logging

    for name in ("LOG_LEVEL", "LOG_SUPPRESS_LOGGERS", "LOG_SUPPRESS_PATHS", "SENTRY_DSN"):
        monkeypatch.delenv(name, raising=False)
    yield io.StringIO()
    root = logging.getLogger()
    for handler in root.handlers[:]:
        root.removeHandler(handler)


def run(name: str, monkeypatch: pytest.MonkeyPatch, stdout: io.StringIO) -> Any:
    """Execute the snippet as module ``readme_<name>`` (stdout being ``stdout``); return its ``app``."""
    module = types.ModuleType(f"readme_{name}")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    # Set here, in the test's call phase: pytest's own capture resets sys.stdout between phases.
    with monkeypatch.context() as patch:
        patch.setattr(sys, "stdout", stdout)
        exec(compile(snippet(name), f"README.md:{name}", "exec"), module.__dict__)
    return module.app


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


async def _check(app: Any, path: str, stream: io.StringIO, route: str | None) -> None:
    async with client(app) as http:
        response = await http.get(path)
    assert response.status_code == 200
    request_id = response.headers["x-request-id"]
    assert response.json()["request_id"] == request_id
    access = [line for line in lines(stream) if line["logger"] == "asgi_obs.access"]
    assert [(a["request_id"], a["status"], a["route"]) for a in access] == [(request_id, 200, route)]


@pytest.mark.anyio
async def test_starlette_quick_start(stdout: io.StringIO, monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's Quick start (Starlette) runs as pasted; /health succeeds without a record."""
    app = run("starlette", monkeypatch, stdout)
    await _check(app, "/hello", stdout, "/hello")
    async with client(app) as http:
        assert (await http.get("/health")).status_code == 200
    assert [line["path"] for line in lines(stdout) if line["logger"] == "asgi_obs.access"] == ["/hello"]


@pytest.mark.anyio
async def test_fastapi_quick_start(stdout: io.StringIO, monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's FastAPI quick start runs as pasted: JSON access record with the route template."""
    pytest.importorskip("fastapi")
    await _check(run("fastapi", monkeypatch, stdout), "/items/3", stdout, "/items/{item_id}")


@pytest.mark.anyio
async def test_litestar_quick_start(stdout: io.StringIO, monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's Litestar quick start (Litestar's default logging config) gives JSON lines."""
    pytest.importorskip("litestar")
    await _check(run("litestar", monkeypatch, stdout), "/hello", stdout, "/hello")


@pytest.fixture
def fresh_django_settings() -> Iterator[None]:
    """Let the snippet call settings.configure() in a process whose settings are configured already."""
    pytest.importorskip("django")
    from django.conf import settings
    from django.utils.functional import empty

    saved = settings._wrapped
    settings._wrapped = empty
    try:
        yield
    finally:
        settings._wrapped = saved


@pytest.mark.anyio
async def test_django_quick_start(
    stdout: io.StringIO, monkeypatch: pytest.MonkeyPatch, fresh_django_settings: None
) -> None:
    """The README's Django quick start runs as pasted: JSON access record, route null."""
    await _check(run("django", monkeypatch, stdout), "/hello", stdout, None)


def test_ci_runs_the_readmes_test_command() -> None:
    """.ci/run runs, verbatim, the test command the README's first code block gives."""
    first_block = re.search(r"```bash\n(.*?)```", README.read_text(), re.S)
    assert first_block is not None
    test_line = first_block.group(1).splitlines()[1].split("#")[0].strip()
    assert "tox" in test_line
    ci = (README.parent / ".ci" / "run").read_text().splitlines()
    assert test_line in [line.strip() for line in ci if not line.lstrip().startswith("#")]
