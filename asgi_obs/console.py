"""``ConsoleFormatter``: one readable line per record, for a developer's terminal.

``10:17:21.123 INFO     asgi_obs.access  GET /users/5 200  [9f1c2b7a] method=GET status=200 ...``

Local wall-clock time with milliseconds, the level, the logger, the message, the first 8
characters of the request id, then the record's fields as ``key=value`` (``extra=``,
``bind()``, the access record's fields; ``None`` values left out), and the traceback as real
lines below it. JSON stays the format for production; this one is for reading.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import IO, Any

from ._json import render_value
from .fields import RESERVED_FIELDS, extra_fields
from .formatter import render_message

__all__ = ["ConsoleFormatter", "colors_wanted"]

_RESET = "\x1b[0m"
_DIM = "\x1b[2m"
_KEY = "\x1b[36m"  # cyan
_LEVEL_COLORS = {
    "DEBUG": "\x1b[34m",  # blue
    "INFO": "\x1b[32m",  # green
    "WARNING": "\x1b[33m",  # yellow
    "ERROR": "\x1b[31m",  # red
    "CRITICAL": "\x1b[1;31m",  # bold red
}
_NEEDS_QUOTES = frozenset(' \t\n\r"=\\')


def colors_wanted(stream: IO[str] | None) -> bool:
    """Whether to colour output on ``stream``: it is a TTY and ``NO_COLOR`` is unset or empty.

    ``NO_COLOR`` with any non-empty value disables colours (https://no-color.org).
    """
    if os.environ.get("NO_COLOR"):
        return False
    try:
        return bool((stream or sys.stdout).isatty())
    except Exception:  # noqa: BLE001 - a closed or odd stream: no colours, no error
        return False


def _printable(text: str) -> str:
    """``text`` with control characters (ESC, BEL, C1 ...) escaped: a client's path or user
    agent must not drive the developer's terminal."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() or char in " \n\t" else f"\\x{ord(char):02x}" for char in text)


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else render_value(value)
    if not isinstance(text, str):
        text = str(text)
    if text == "" or any(char in _NEEDS_QUOTES for char in text):
        # Quoted and escaped so that a value never breaks the line or the key=value reading.
        escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
        return '"' + _printable(escaped.replace("\t", "\\t")) + '"'
    return _printable(text)


class ConsoleFormatter(logging.Formatter):
    """Readable lines for development; install it with ``init_structured_logging(formatter=...)``.

    ``colors``: ``True`` always colours, ``False`` never; ``None`` (the default) decides once,
    here, with :func:`colors_wanted` for ``stream`` (default ``sys.stdout``): a TTY and no
    ``NO_COLOR``. Formatting happens when the handler emits the record and never raises: a
    value that cannot be rendered appears as text, a bad ``%`` format as the raw message.
    """

    def __init__(self, *, colors: bool | None = None, stream: IO[str] | None = None) -> None:
        super().__init__()
        self.colors = colors_wanted(stream) if colors is None else bool(colors)

    def format(self, record: logging.LogRecord) -> str:
        try:
            return self._format(record)
        except Exception as exc:  # noqa: BLE001 - the last resort: a line, whatever happened
            return (
                f"{record.levelname} {record.name} {render_value(record.msg)} [unformattable record: {exc!r}]"
            )

    def _format(self, record: logging.LogRecord) -> str:
        colors = self.colors
        created = record.created
        clock = time.strftime("%H:%M:%S", time.localtime(created)) + ".%03d" % int(record.msecs)  # noqa: UP031
        level = record.levelname
        message = _printable(render_message(record)).replace("\n", "\\n")
        parts = [clock, f"{level:<8}", record.name, message]
        if colors:
            color = _LEVEL_COLORS.get(level, "")
            parts[0] = _DIM + clock + _RESET
            parts[1] = color + parts[1] + _RESET
            parts[2] = _DIM + record.name + _RESET
        attrs = record.__dict__
        request_id = attrs.get("request_id")
        if request_id:
            short = "[" + _text(request_id)[:8] + "]"
            parts.append(_DIM + short + _RESET if colors else short)
        for key, value in extra_fields(attrs, RESERVED_FIELDS).items():
            if value is None:
                continue
            name = _text(key)
            parts.append(f"{_KEY}{name}{_RESET}={_text(value)}" if colors else f"{name}={_text(value)}")
        line = " ".join(parts)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        tail = [
            text
            for text in (record.exc_text, record.stack_info and self.formatStack(record.stack_info))
            if text
        ]
        if tail:
            trace = "\n".join(tail)
            line += "\n" + (_LEVEL_COLORS["ERROR"] + trace + _RESET if colors else trace)
        return line
