"""Server log configs applied by each server's own logging setup code: one JSON line per record."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import asgi_obs
from asgi_obs import init_structured_logging

CONFIGS = [
    asgi_obs.uvicorn_log_config,
    asgi_obs.hypercorn_log_config,
    asgi_obs.granian_log_config,
    asgi_obs.gunicorn_log_config,
]
SERVER_LOGGERS = ["uvicorn", "uvicorn.error", "uvicorn.access", "hypercorn.error", "hypercorn.access"]
SERVER_LOGGERS += ["_granian", "granian.access", "gunicorn.error", "gunicorn.access"]


@pytest.fixture
def stdout(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], io.StringIO]]:
    """Call it in the test body: sys.stdout as the dict's handler sees it; loggers restored after.

    (pytest's own capture re-binds sys.stdout between setup and call: patching in the fixture
    would not last.)
    """
    for name in ("LOG_LEVEL", "LOG_FORMAT", "LOG_SCHEMA", "LOG_ENQUEUE"):
        monkeypatch.delenv(name, raising=False)
    loggers = {name: logging.getLogger(name) for name in SERVER_LOGGERS}
    saved = {name: (lg.handlers[:], lg.propagate, lg.level) for name, lg in loggers.items()}

    def capture() -> io.StringIO:
        stream = io.StringIO()
        monkeypatch.setattr(sys, "stdout", stream)
        return stream

    yield capture
    root = logging.getLogger()
    for handler in root.handlers[:]:
        root.removeHandler(handler)
    for name, (handlers, propagate, level) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers, logger.propagate, logger.level = handlers, propagate, level


def _lines(stream: io.StringIO) -> list[tuple[str, str]]:
    return [(line["logger"], line["message"]) for line in map(json.loads, stream.getvalue().splitlines())]


@pytest.mark.parametrize("make", CONFIGS, ids=lambda make: make.__name__)
def test_config_is_json_and_carries_its_options(make: Callable[..., dict[str, Any]]) -> None:
    """Each server's dict survives JSON and carries the handler options and the level."""
    config = make("warning", schema="ecs", static_fields={"service": "api"})
    assert json.loads(json.dumps(config)) == config
    handler = config["handlers"]["default"]
    assert (handler["schema"], handler["static_fields"]) == ("ecs", {"service": "api"})
    assert config["root"]["level"] == logging.WARNING
    with pytest.raises(ValueError, match="schema"):
        make(schema="nope")


def test_hypercorn_error_written_once(stdout: Callable[[], io.StringIO]) -> None:
    """hypercorn's Logger with the dict: hypercorn.error loses its stderr handler, access is silent."""
    from hypercorn.config import Config
    from hypercorn.logging import Logger

    out = stdout()
    config = Config()
    config.accesslog = "-"
    config.logconfig_dict = asgi_obs.hypercorn_log_config()
    Logger(config)  # what each hypercorn worker does: its own handlers first, then the dict
    logging.getLogger("hypercorn.error").info("Running on http://127.0.0.1:8000")
    logging.getLogger("hypercorn.access").info("GET / 200")
    assert _lines(out) == [("hypercorn.error", "Running on http://127.0.0.1:8000")]
    assert logging.getLogger("hypercorn.error").handlers == []


def test_granian_lines_written_once(stdout: Callable[[], io.StringIO]) -> None:
    """granian's configure_logging with the dict: _granian (and its Rust children) JSON, access silent."""
    from granian.log import LogLevels, configure_logging

    out = stdout()
    configure_logging(LogLevels.info, asgi_obs.granian_log_config())
    logging.getLogger("_granian").info("Starting granian")
    logging.getLogger("_granian.serve").info("Started worker-1")
    logging.getLogger("granian.access").info("GET / 200")
    assert _lines(out) == [("_granian", "Starting granian"), ("_granian.serve", "Started worker-1")]


@pytest.mark.parametrize("init_after", [False, True], ids=["log-config-only", "init-at-import"])
def test_gunicorn_uvicorn_worker_written_once(stdout: Callable[[], io.StringIO], init_after: bool) -> None:
    """gunicorn + UvicornWorker: uvicorn.error copies gunicorn.error's handler; one line each, also
    when the app module calls init_structured_logging() (after the worker's copy: no --preload)."""
    from gunicorn.config import Config
    from gunicorn.glogging import Logger

    out = stdout()
    cfg = Config()
    cfg.set("logconfig_dict", asgi_obs.gunicorn_log_config())
    log = Logger(cfg)  # the arbiter's setup
    uvicorn_error = logging.getLogger("uvicorn.error")
    uvicorn_error.handlers = log.error_log.handlers  # what UvicornWorker.__init__ does
    uvicorn_error.propagate = False
    if init_after:
        init_structured_logging()  # on sys.stdout, as at import
    logging.getLogger("gunicorn.error").info("Booting worker")
    uvicorn_error.info("Started server process")
    logging.getLogger("gunicorn.access").info("GET / 200")
    assert _lines(out) == [("gunicorn.error", "Booting worker"), ("uvicorn.error", "Started server process")]
