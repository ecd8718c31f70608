"""``LoggingOptions``: the options of one logging setup, resolved and validated once, frozen."""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Mapping
from typing import IO, Any

from .filters import SuppressUnwantedLogsFilter, parse_level
from .formatter import DEFAULT_MAX_LINE_BYTES

__all__ = ["FORMATS", "SCHEMAS", "LoggingOptions", "resolve_level"]

FORMATS = ("json", "console")
SCHEMAS = ("default", "ecs", "otel", "gcp")
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


def resolve_level(level: str | int | None) -> int:
    """The root level: ``level`` if given, else ``LOG_LEVEL``, else INFO (``ValueError`` naming it)."""
    if level is not None:
        return parse_level(level, source="level")
    env = os.environ.get("LOG_LEVEL")
    if env is None or not env.strip():
        return logging.INFO
    return parse_level(env, source="LOG_LEVEL")


def _choice(value: str | None, env: str, allowed: tuple[str, ...], name: str) -> str:
    source, raw = (name, value) if value is not None else (env, os.environ.get(env))
    if raw is None:
        return allowed[0]
    text = raw.strip().lower() if isinstance(raw, str) else raw
    if text == "" and source == env:
        return allowed[0]
    if text not in allowed:
        raise ValueError(f"{source}={raw!r}: expected one of {', '.join(allowed)}")
    return str(text)


def _flag(value: bool | None, env: str, name: str) -> bool:
    if value is not None:
        if not isinstance(value, bool):
            raise ValueError(f"{name}={value!r}: expected True or False")
        return value
    raw = os.environ.get(env, "")
    text = raw.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"{env}={raw!r}: expected 1/0, true/false, yes/no or on/off")


@dataclasses.dataclass(frozen=True)
class LoggingOptions:
    """Everything a logging setup is built from; build one with :meth:`resolve`.

    Frozen, so a handler built from it cannot be changed by a later call; the dicts are the
    options' own copies.
    """

    stream: IO[str] | None = None
    suppress: SuppressUnwantedLogsFilter | bool | None = None
    formatter: logging.Formatter | None = None
    static_fields: Mapping[str, Any] | None = None
    rename_fields: Mapping[str, str] | None = None
    use_orjson: bool | None = None
    fmt: str = "json"
    schema: str = "default"
    enqueue: bool = False
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES

    @classmethod
    def resolve(
        cls,
        *,
        stream: IO[str] | None = None,
        suppress: SuppressUnwantedLogsFilter | bool | None = None,
        formatter: logging.Formatter | None = None,
        static_fields: Mapping[str, Any] | None = None,
        rename_fields: Mapping[str, str] | None = None,
        use_orjson: bool | None = None,
        fmt: str | None = None,
        schema: str | None = None,
        enqueue: bool | None = None,
        max_line_bytes: int | None = None,
    ) -> LoggingOptions:
        """Options from the arguments, else ``LOG_FORMAT``/``LOG_SCHEMA``/``LOG_ENQUEUE``.

        Called when :func:`~asgi_obs.init_structured_logging`, :func:`~asgi_obs.make_handler`
        or :func:`~asgi_obs.uvicorn_log_config` is called: an invalid value is a ``ValueError``
        naming the argument or the variable, before anything is installed.
        """
        if max_line_bytes is None:
            max_line_bytes = DEFAULT_MAX_LINE_BYTES
        elif type(max_line_bytes) is not int or max_line_bytes < 1024:
            raise ValueError(f"max_line_bytes={max_line_bytes!r}: expected an int >= 1024")
        if suppress is not None and not isinstance(suppress, (bool, SuppressUnwantedLogsFilter)):
            raise ValueError(
                f"suppress={suppress!r}: expected a SuppressUnwantedLogsFilter, True, False or None"
            )
        return cls(
            stream=stream,
            suppress=suppress,
            formatter=formatter,
            static_fields=dict(static_fields) if static_fields else None,
            rename_fields=dict(rename_fields) if rename_fields else None,
            use_orjson=use_orjson,
            fmt=_choice(fmt, "LOG_FORMAT", FORMATS, "fmt"),
            schema=_choice(schema, "LOG_SCHEMA", SCHEMAS, "schema"),
            enqueue=_flag(enqueue, "LOG_ENQUEUE", "enqueue"),
            max_line_bytes=max_line_bytes,
        )

    def config(self) -> dict[str, Any]:
        """The options as JSON-serialisable keys of a ``dictConfig`` handler entry.

        A ``stream``, a ``formatter`` or a filter object cannot be written into such a dict:
        a ``ValueError`` says so.
        """
        for name in ("stream", "formatter"):
            if getattr(self, name) is not None:
                raise ValueError(f"{name}: not JSON-serialisable; a dictConfig handler writes to sys.stdout")
        if isinstance(self.suppress, SuppressUnwantedLogsFilter):
            raise ValueError("suppress: pass True (LOG_SUPPRESS_* variables) or False, not a filter object")
        return {
            "fmt": self.fmt,
            "schema": self.schema,
            "enqueue": self.enqueue,
            "max_line_bytes": self.max_line_bytes,
            "static_fields": dict(self.static_fields or {}),
            "rename_fields": dict(self.rename_fields or {}),
            "use_orjson": self.use_orjson,
            "suppress": self.suppress,
        }
