"""Server log configs: ``dictConfig`` dicts that make a server's own lines JSON, and once.

Each function returns the same setup as :func:`~asgi_obs.init_structured_logging` — one
:class:`~asgi_obs.logging_config.JsonLineHandler` on the root logger, built by
:func:`~asgi_obs.logging_config.make_handler` from the options written into the dict — plus
what that server needs: its loggers' own handlers removed so that they propagate to the root
handler (each line once), its access logger silenced (the access layer writes a richer
record), and :class:`~asgi_obs.ServerDuplicateFilter` on the handler to drop its echo of a
failure already logged. Every dict is JSON-serialisable: hand it to the server's dict option
or write it to a file for its command line::

    python -c "import json, asgi_obs; print(json.dumps(asgi_obs.hypercorn_log_config()))" > log.json

The server loggers' names are :data:`~asgi_obs.fields.SERVER_LOGGERS` and
:data:`~asgi_obs.fields.SERVER_ACCESS_LOGGERS`. daphne has no dict option: run it with
``daphne -v 0`` and call ``init_structured_logging()`` in the app module.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ._options import LoggingOptions, resolve_level
from .fields import SERVER_ACCESS_LOGGERS, SERVER_LOGGERS

__all__ = ["granian_log_config", "gunicorn_log_config", "hypercorn_log_config", "uvicorn_log_config"]


def _log_config(
    level: str | int | None,
    options: dict[str, Any],
    *,
    routed: Iterable[str],
    silenced: Iterable[str],
    holding: Iterable[str] = (),
) -> dict[str, Any]:
    # The one place that writes a server config: options validated and resolved now (with
    # LOG_FORMAT, LOG_SCHEMA, LOG_ENQUEUE, LOG_LEVEL), so the dict alone says what is installed.
    resolved = resolve_level(level)
    handler = LoggingOptions.resolve(**options).config()
    formatter = {"()": "asgi_obs.formatter.CustomJsonFormatter"}
    loggers: dict[str, dict[str, Any]] = {name: {"handlers": [], "propagate": True} for name in routed}
    # A logger whose handlers another one copies (gunicorn.error -> uvicorn.error) holds the
    # root handler itself and does not propagate: each line is still written once.
    loggers.update({name: {"handlers": ["default"], "propagate": False} for name in holding})
    loggers.update({name: {"handlers": [], "propagate": False} for name in silenced})
    return {
        "version": 1,
        # Loggers created before the server applies the dict (the app's, asgi_obs.access) must keep working.
        "disable_existing_loggers": False,
        # uvicorn writes ``use_colors`` into these two names when --use-colors is given.
        "formatters": {"default": dict(formatter), "access": dict(formatter)},
        "handlers": {"default": {"()": "asgi_obs.logging_config.make_handler", **handler}},
        "loggers": loggers,
        "root": {"level": resolved, "handlers": ["default"]},
    }


def uvicorn_log_config(level: str | int | None = None, **options: Any) -> dict[str, Any]:
    """Return a ``dictConfig`` dict equivalent to :func:`~asgi_obs.init_structured_logging`, for uvicorn.

    Pass it as uvicorn's ``log_config=`` (or write it to a ``.json`` file for
    ``uvicorn --log-config``): uvicorn applies it when it starts, and the result is the same
    single handler, on ``sys.stdout`` as it is then; ``uvicorn`` and ``uvicorn.error`` go
    through it, ``uvicorn.access`` is silenced. ``options`` are the JSON-serialisable options
    of :func:`~asgi_obs.init_structured_logging` (``fmt``, ``schema``, ``enqueue``,
    ``max_line_bytes``, ``static_fields``, ``rename_fields``, ``use_orjson``, ``suppress`` as a
    bool); they are validated and resolved now (with ``LOG_FORMAT``, ``LOG_SCHEMA``,
    ``LOG_ENQUEUE`` and the level with ``LOG_LEVEL``) and written into the handler entry of the
    dict, so the dict alone says what uvicorn will install: nothing is taken from an earlier
    :func:`~asgi_obs.init_structured_logging` call (give both the same options).
    """
    return _log_config(
        level, options, routed=SERVER_LOGGERS["uvicorn"], silenced=SERVER_ACCESS_LOGGERS["uvicorn"]
    )


def hypercorn_log_config(level: str | int | None = None, **options: Any) -> dict[str, Any]:
    """Return a ``dictConfig`` dict for hypercorn; ``level`` and ``options`` as :func:`uvicorn_log_config`.

    ``config.logconfig_dict = hypercorn_log_config()`` in code, or written to a file for
    ``hypercorn --log-config json:log.json app:app`` (asyncio and ``-k trio`` workers alike).
    hypercorn applies it in each worker after giving ``hypercorn.error`` its own stderr handler
    (``--error-logfile -``, the default): the dict removes that handler, so the logger's
    lines are written once, as JSON, by the root handler. ``hypercorn.access`` is silenced.
    """
    return _log_config(
        level, options, routed=SERVER_LOGGERS["hypercorn"], silenced=SERVER_ACCESS_LOGGERS["hypercorn"]
    )


def granian_log_config(level: str | int | None = None, **options: Any) -> dict[str, Any]:
    """Return a ``dictConfig`` dict for granian; ``level`` and ``options`` as :func:`uvicorn_log_config`.

    ``Granian(..., log_dictconfig=granian_log_config())`` in code, or written to a file for
    ``granian --interface asgi --log-config log.json app:app``. granian applies it in its main
    process and in each worker, merged over its own defaults key by key, so this dict's
    ``loggers`` replace granian's: ``_granian`` (its Python and Rust lines, ``_granian.*``)
    propagates to the root handler, ``granian.access`` is silenced. ``--log-level`` still sets
    ``_granian``'s level.
    """
    return _log_config(
        level, options, routed=SERVER_LOGGERS["granian"], silenced=SERVER_ACCESS_LOGGERS["granian"]
    )


def gunicorn_log_config(level: str | int | None = None, **options: Any) -> dict[str, Any]:
    """Return a ``dictConfig`` dict for gunicorn with uvicorn workers; as :func:`uvicorn_log_config`.

    Write it to a file for ``gunicorn -k uvicorn.workers.UvicornWorker --log-config-json
    log.json app:app`` (``logconfig_dict`` in a config file works too). gunicorn applies it in
    the arbiter; each ``UvicornWorker``, when it is created, *copies* ``gunicorn.error``'s
    handlers onto ``uvicorn.error`` (and ``gunicorn.access``'s onto ``uvicorn.access``) and
    stops them propagating — with ``--preload`` after the app module was imported, so an
    ``init_structured_logging()`` there is undone. Hence ``gunicorn.error`` holds the root
    handler itself here (not propagating), and whatever a worker copies is that one handler:
    each line once, as JSON, with or without ``--preload``. ``gunicorn.access`` is silenced.
    """
    return _log_config(
        level,
        options,
        routed=SERVER_LOGGERS["uvicorn"],
        holding=SERVER_LOGGERS["gunicorn"],
        silenced=(*SERVER_ACCESS_LOGGERS["gunicorn"], *SERVER_ACCESS_LOGGERS["uvicorn"]),
    )
