"""``CustomJsonFormatter``: one JSON object per record, one line per object.

Key order: ``timestamp``, ``level``, ``logger``, ``message``, ``request_id``, ``trace_id``, the
formatter's static fields, every ``extra=``/``bind()`` field, then ``exc_info`` (only on records
that carry an exception). Encoding uses orjson when it is installed, the standard library
otherwise; either way non-ASCII stays UTF-8 and a value JSON cannot encode is rendered with
``str()`` (a ``datetime`` as ISO 8601). A value that cannot even be rendered, or a message whose
``%`` arguments do not fit, still produces a valid line: formatting never raises.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

from ._emit import FAST_PATH_KEY, LayerRecord, report_internal_error
from ._json import ORJSON, encode_record, escape_separators, fit_line, orjson_dumps, render_value, utf8_len
from .fields import RESERVED_FIELDS, extra_fields
from .schemas import Converter, converter_for

__all__ = [
    "DEFAULT_MAX_LINE_BYTES",
    "CustomJsonFormatter",
    "render_message",
    "render_value",
]  # render_value: re-exported

#: Longest line (UTF-8 bytes, newline included) a record is written as, unless configured.
DEFAULT_MAX_LINE_BYTES = 64 * 1024
_MIN_LINE_BYTES = 1024

# The names that are not extra fields (fields.RESERVED_FIELDS), plus python-json-logger's own
# list, should a future version name an attribute this Python's LogRecord lacks.
_STANDARD_ATTRS = RESERVED_FIELDS | frozenset(RESERVED_ATTRS)
_DIGITS = tuple(f"{n:03d}" for n in range(1000))
_DIGITS_UTC = tuple(f"{n:03d}+00:00" for n in range(1000))


def render_message(record: logging.LogRecord) -> str:
    """``record.getMessage()``, except that it never raises: a bad ``%`` format keeps the line."""
    msg = record.msg
    if not record.args and type(msg) is str:
        return msg  # the common case: nothing to interpolate
    try:
        return record.getMessage()
    except Exception as exc:  # noqa: BLE001 - a bad format string must not lose the line
        return f"{render_value(msg)} [unformattable arguments: {exc!r}]"


class CustomJsonFormatter(JsonFormatter):
    """python-json-logger's ``JsonFormatter`` with asgi_obs' record layout.

    Accepts python-json-logger's options; ``rename_fields`` (e.g. ``{"level": "severity"}``),
    ``static_fields`` (e.g. ``{"service": "billing"}``), ``reserved_attrs``, ``prefix`` and
    ``fmt`` (extra record attributes to include) keep their meaning. ``use_orjson`` forces the
    encoder (``None``: orjson when installed). ``use_colors`` is accepted and ignored, because
    uvicorn sets it on the formatters of a ``log_config``. ``max_line_bytes`` (default 64 KiB,
    at least 1024) bounds each line, newline included: a longer record is cut inside its longest
    fields, each keeping its head and tail around a marker of what was cut.

    Every line is one valid JSON object: keys that are not ``str`` are rendered with ``str()``,
    and U+2028, U+2029 and U+0085 are escaped (they would split the line for many readers).

    ``schema`` picks the layout: ``"default"`` (DESIGN §5), ``"ecs"`` (Elastic Common Schema as
    ``ecs-logging`` writes it), ``"otel"`` (OpenTelemetry log data model) or ``"gcp"`` (Cloud
    Logging structured logging); see :mod:`asgi_obs.schemas`. A preset reads the service
    identity (``OTEL_SERVICE_NAME``/``SERVICE_NAME``, ``SERVICE_VERSION``,
    ``SERVICE_ENVIRONMENT``, and for GCP ``GOOGLE_CLOUD_PROJECT``) here, once; an unknown
    schema is a ``ValueError`` naming ``schema``. ``rename_fields`` applies to the preset's
    top-level keys.

    The record is formatted when the handler emits it; the exception text is computed once and
    cached on the record (``exc_text``) like the standard formatter does.
    """

    def __init__(
        self,
        fmt: str | None = None,
        datefmt: str | None = None,
        style: str = "%",
        validate: bool = True,
        *,
        use_orjson: bool | None = None,
        json_ensure_ascii: bool = False,
        use_colors: object = None,
        schema: str = "default",
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
        **kwargs: Any,
    ) -> None:
        if type(max_line_bytes) is not int or max_line_bytes < _MIN_LINE_BYTES:
            raise ValueError(f"max_line_bytes={max_line_bytes!r}: expected an int >= {_MIN_LINE_BYTES}")
        # The JSON text, without its newline, must fit in this many bytes.
        self._max_json = max_line_bytes - 1
        self._convert: Converter | None = converter_for(schema)
        self.schema = schema
        kwargs.setdefault("json_default", render_value)
        super().__init__(fmt, datefmt, style, validate, json_ensure_ascii=json_ensure_ascii, **kwargs)
        if use_orjson and ORJSON is None:
            raise ValueError("use_orjson=True but orjson is not installed (pip install orjson)")
        self._orjson = ORJSON if use_orjson is not False and not json_ensure_ascii else None
        self._skip = frozenset(self._skip_fields | _STANDARD_ATTRS)
        self._extra_required = tuple(f for f in self._required_fields if f not in _STANDARD_ATTRS)
        self._wants_asctime = "asctime" in self._required_fields
        # python-json-logger's defaults (overridable) then static fields, merged once.
        self._constant_fields = tuple({**self.defaults, **self.static_fields}.items())
        # Skip the two python-json-logger hooks when nobody overrides them (one call each less).
        self._plain = (
            not self.prefix
            and type(self).process_log_record is JsonFormatter.process_log_record
            and type(self).serialize_log_record is JsonFormatter.serialize_log_record
        )
        # Records built by asgi_obs' layers take a shorter path when nothing in this formatter's
        # configuration needs the general one (see format()).
        self._fast = (
            self._plain
            and self._orjson is not None
            and not self._constant_fields
            and not self._extra_required
            and not self._wants_asctime
            and not self.rename_fields
            and type(self).jsonify_log_record is CustomJsonFormatter.jsonify_log_record
            and self.json_default is render_value
        )
        self._second = -1
        self._second_text = ""

    def iso_time(self, created: float) -> str:
        """``created`` (seconds since the epoch) as the ``timestamp`` value: ISO 8601, UTC, µs.

        Not thread-safe (a per-second cache): called under the handler's lock.
        """
        # strftime once per second; the microseconds per record, from two tables of three
        # digits (the same text as "%06d", in a quarter of its time).
        second = int(created)
        if second != self._second:
            self._second_text = time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(second))
            self._second = second
        micros = int((created - second) * 1_000_000)
        return self._second_text + _DIGITS[micros // 1000] + _DIGITS_UTC[micros % 1000]

    def format(self, record: logging.LogRecord) -> str:
        attrs = record.__dict__
        marker = attrs.get(FAST_PATH_KEY) if type(record) is LayerRecord else None
        if (
            marker is not None
            and self._fast
            and len(attrs) == marker[1] + ("request_id" in attrs) + ("trace_id" in attrs)
            and not record.exc_info
        ):
            # The access record, on every request: built by an asgi_obs layer (final message,
            # no exception), and since then given nothing but the ids (by ContextFilter): any
            # attribute assignment drops the marker (see _emit.LayerRecord). Its fields are
            # serialised from the dict it was built from. Same output as the general path.
            message = attrs["message"] = record.msg
            data = {
                "timestamp": self.iso_time(record.created),
                "level": record.levelname,
                "logger": record.name,
                "message": message,
                "request_id": attrs.get("request_id"),
                "trace_id": attrs.get("trace_id"),
            }
            data.update(marker[0])
            if self._convert is not None:
                data = self._converted(self._convert, data, record)
            line = self.fast_line(data)
            return line.decode() if isinstance(line, bytes) else line
        return self._format_any(record)

    def fast_line(self, data: dict[str, Any]) -> bytes | str:
        """Encode a layer record's final ``data`` (top keys first) as one line, without newline.

        The fast path's encoding, shared by :meth:`format` and the direct emission of
        :mod:`asgi_obs._direct` (so both write the same bytes): orjson's bytes for the common
        ASCII line that fits, else the text the general path would write.
        """
        try:
            line = orjson_dumps(data)
        except TypeError:  # a value orjson does not know natively (a bound object ...)
            return self.jsonify_log_record(data)
        if line.isascii() and len(line) <= self._max_json:
            return line
        # Rare: a non-ASCII character (maybe a line separator) or a record too long.
        line = escape_separators(line)
        if len(line) <= self._max_json:
            return line.decode()
        return fit_line(data, self._max_json, self._encode)

    @property
    def direct(self) -> bool:
        """Whether a layer's record may be encoded by :meth:`fast_line` without a ``LogRecord``.

        True for the default layout with orjson and nothing configured that needs the record
        (the conditions of the fast path, and no schema preset).
        """
        return self._fast and self._convert is None and type(self) is CustomJsonFormatter

    def _format_any(self, record: logging.LogRecord) -> str:
        attrs = record.__dict__
        message_dict: dict[str, Any] | None = None
        if isinstance(record.msg, dict):
            message_dict = dict(record.msg)
            message = ""
        else:
            message = render_message(record)
        attrs["message"] = message  # not record.message=: that would drop a layer record's marker

        data: dict[str, Any] = {
            "timestamp": self.iso_time(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": message,
            "request_id": attrs.get("request_id"),
            "trace_id": attrs.get("trace_id"),
        }
        if self._constant_fields:
            for key, value in self._constant_fields:
                data[key] = value
        if self._wants_asctime:
            data["asctime"] = self.formatTime(record, self.datefmt)
        for field in self._extra_required:
            data[field] = attrs.get(field)
        # Only a LayerRecord drops its marker when an attribute is written (a plain LogRecord
        # rebuilt from its __dict__, by makeLogRecord for instance, would keep a stale one).
        marker = attrs.get(FAST_PATH_KEY) if type(record) is LayerRecord else None
        if marker is not None and len(attrs) == marker[1] + 1 + ("request_id" in attrs) + (
            "trace_id" in attrs
        ):
            # A layer's record given nothing but the ids and ``message`` (set above): its fields
            # are the dict it was built from (see the fast path in format()).
            data.update(marker[0])
        else:
            data.update(extra_fields(attrs, self._skip))
        if message_dict:
            data.update(message_dict)
        if record.exc_info:
            if not record.exc_text:
                text = self.formatException(record.exc_info)
                if isinstance(text, str):
                    record.exc_text = text
                data["exc_info"] = text
            else:
                data["exc_info"] = record.exc_text
        elif record.exc_text:
            data["exc_info"] = record.exc_text
        if record.stack_info:
            data["stack_info"] = self.formatStack(record.stack_info)
        if self._convert is not None:
            data = self._converted(self._convert, data, record)
        if self.rename_fields:
            rename = self.rename_fields
            data = {rename.get(key, key): value for key, value in data.items()}
        if self._plain:
            return self.jsonify_log_record(data)
        return self.serialize_log_record(self.process_log_record(data))

    def _converted(
        self, convert: Converter, data: dict[str, Any], record: logging.LogRecord
    ) -> dict[str, Any]:
        try:
            return convert(data, record)
        except Exception as exc:  # noqa: BLE001 - a preset's bug must not lose the line
            report_internal_error(f"the {self.schema!r} schema", exc)
            return data

    def jsonify_log_record(self, log_data: dict[str, Any]) -> str:
        """Encode ``log_data`` as one line of at most ``max_line_bytes``; never raises."""
        orjson = self._orjson
        if orjson is not None:
            try:
                line: bytes = orjson.dumps(log_data, default=self.json_default or render_value)
            except TypeError:
                pass  # a non-str key, a value orjson refuses: encode_record's fallbacks
            else:
                if line.isascii() and len(line) <= self._max_json:
                    return line.decode()  # the common case, no second pass
        else:
            try:
                # allow_nan=False: NaN/Infinity are not JSON; encode_record renders them.
                text = json.dumps(
                    log_data,
                    default=self.json_default or render_value,
                    ensure_ascii=self.json_ensure_ascii,
                    allow_nan=False,
                )
            except (TypeError, ValueError, RecursionError):
                pass
            else:
                if text.isascii() and len(text) <= self._max_json:
                    return text
        text = self._encode(log_data)
        if len(text) > self._max_json or (len(text) * 4 > self._max_json and utf8_len(text) > self._max_json):
            return fit_line(log_data, self._max_json, self._encode)
        return text

    def _encode(self, log_data: dict[Any, Any]) -> str:
        return encode_record(
            log_data, self._orjson, self.json_default or render_value, ensure_ascii=self.json_ensure_ascii
        )
