"""JSON encoding helpers: orjson when installed, and rendering what JSON cannot encode."""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable
from types import ModuleType
from typing import Any

__all__ = [
    "ORJSON",
    "encode_record",
    "escape_separators",
    "escape_separators_text",
    "fit_line",
    "orjson_dumps",
    "render_value",
    "str_keys",
    "stringify",
    "utf8_len",
]

try:
    import orjson as _orjson_module
except ImportError:  # pragma: no cover - exercised where orjson is not installed
    ORJSON: ModuleType | None = None
else:
    ORJSON = _orjson_module


def _no_orjson(*args: Any, **kwargs: Any) -> bytes:  # pragma: no cover - guarded by _fast
    raise TypeError("orjson is not installed")


orjson_dumps: Callable[..., bytes] = ORJSON.dumps if ORJSON is not None else _no_orjson


def render_value(obj: Any) -> Any:
    """Render a value JSON cannot encode: ISO 8601 for dates and times, ``str()`` otherwise.

    Never raises: an object whose ``__str__`` and ``__repr__`` both fail becomes
    ``"<unrepresentable TypeName>"``.
    """
    if isinstance(obj, (dt.datetime, dt.date, dt.time)):
        return obj.isoformat()
    try:
        return str(obj)
    except Exception:  # noqa: BLE001 - rendering must not raise; fall back to repr
        try:
            return repr(obj)
        except Exception:  # noqa: BLE001 - and then to the type's name
            return f"<unrepresentable {type(obj).__name__}>"


def stringify(data: dict[str, Any]) -> dict[str, Any]:
    """Last resort for a record JSON refused as a whole: scalars kept, the rest as text.

    A circular reference, an int beyond 64 bits with orjson, NaN or Infinity with the stdlib:
    every key is kept, every value becomes something JSON accepts (non-finite floats ``null``,
    as orjson writes them).
    """
    safe: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, float) and not math.isfinite(value):
            safe[str(key)] = None
        elif value is None or isinstance(value, (bool, int, float, str)):
            safe[str(key)] = value
        else:
            text = render_value(value)
            safe[str(key)] = text if isinstance(text, str) else str(text)
    return safe


# The line separators JSON allows raw inside strings but that split a line for
# ``str.splitlines()``, JavaScript and many log shippers, as (UTF-8 bytes, JSON escape).
_SEPARATORS = ((b"\xe2\x80\xa8", b"\\u2028"), (b"\xe2\x80\xa9", b"\\u2029"), (b"\xc2\x85", b"\\u0085"))
_SEPARATOR_TEXT = (("\u2028", "\\u2028"), ("\u2029", "\\u2029"), ("\x85", "\\u0085"))


def escape_separators(line: bytes) -> bytes:
    """Escape U+2028, U+2029 and U+0085 in an encoded JSON line (only inside strings can they be).

    The caller checks ``line.isascii()`` first: ASCII lines, the common case, are never scanned.
    Their lead bytes (``\\xe2``, ``\\xc2``) never occur inside another character in UTF-8, so a
    byte replace is exact.
    """
    for raw, escaped in _SEPARATORS:
        if raw in line:
            line = line.replace(raw, escaped)
    return line


def escape_separators_text(text: str) -> str:
    """:func:`escape_separators` for a line still held as ``str`` (the stdlib encoder's output)."""
    for raw, escaped in _SEPARATOR_TEXT:
        if raw in text:
            text = text.replace(raw, escaped)
    return text


def str_keys(value: Any) -> Any:
    """Copy ``value`` with every dict key that is not a ``str`` rendered with ``str()``.

    For the rare record with such a key (a tuple, or any with orjson, which refuses them all).
    Cycles raise ``RecursionError``.
    """
    if isinstance(value, dict):
        return {
            (key if type(key) is str else str(render_value(key))): str_keys(item)
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [str_keys(item) for item in value]
    return value


def utf8_len(text: str) -> int:
    """Length of ``text`` in UTF-8 bytes, without encoding it when it is ASCII."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "backslashreplace"))


def encode_record(
    data: dict[Any, Any], orjson: ModuleType | None, default: Callable[[Any], Any], *, ensure_ascii: bool
) -> str:
    """Encode one record as JSON text, falling back step by step so that a line is always produced.

    orjson when given, else (or when it refuses) the stdlib; keys JSON has no form for rendered
    with ``str()`` (the stdlib itself writes a nested ``None`` key as ``"null"``);
    U+2028/U+2029/U+0085 escaped; the result always encodable as UTF-8.
    """
    if orjson is not None:
        try:
            line = orjson.dumps(data, default=default)
        except TypeError:
            # A non-str key, or a value orjson refuses (a lone surrogate, an int beyond 64
            # bits): keys rendered with str() first, then the stdlib copes below.
            try:
                line = orjson.dumps(str_keys(data), default=default)
            except (TypeError, ValueError, RecursionError):
                line = None
        if line is not None:
            return (line if line.isascii() else escape_separators(line)).decode()
    try:
        try:
            # allow_nan=False: NaN/Infinity are not JSON; they fail here and are rendered below.
            text = json.dumps(data, default=default, ensure_ascii=ensure_ascii, allow_nan=False)
        except TypeError:  # a key JSON has no form for (a tuple): rendered with str()
            text = json.dumps(str_keys(data), default=default, ensure_ascii=ensure_ascii, allow_nan=False)
        if not text.isascii():
            text.encode("utf-8")  # a lone surrogate would fail later, in the stream
            text = escape_separators_text(text)
        return text
    except (TypeError, ValueError, RecursionError):
        return json.dumps(stringify(data), default=render_value, ensure_ascii=True)


#: Shortest part of a field kept (head + tail) when a record is cut to fit its line.
_MIN_KEEP = 32


def _marker(cut: int, total: int) -> str:
    return f" [... {cut} of {total} characters cut to fit max_line_bytes ...] "


def _cut_text(text: str, keep: int) -> str:
    # Head and tail: a traceback keeps its first frames and the exception line at its end.
    keep = max(keep, _MIN_KEEP)
    if keep >= len(text):
        return text
    head = keep - keep // 2
    return text[:head] + _marker(len(text) - keep, len(text)) + text[len(text) - keep // 2 :]


def _as_text(value: Any) -> str:
    # A large non-string value (a list of 10,000 ids ...) is cut as its JSON text.
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, default=render_value, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        return str(render_value(value))


def _shrink(data: dict[Any, Any], excess: int, depth: int = 0) -> dict[Any, Any]:
    """Cut the longest values of ``data`` (nested dicts too) by about ``excess`` bytes in total.

    Water-filling: every value longer than a common cap is cut down to that cap, so the longest
    fields lose the most and short ones (ids, status, level) are never touched.
    """
    sizes: list[tuple[int, Any, str]] = []
    for key, value in data.items():
        if isinstance(value, dict) and depth < 3:
            continue  # handled below, recursively, with its share of the excess
        if value is None or isinstance(value, (bool, int, float)):
            continue
        text = _as_text(value)
        if len(text) > _MIN_KEEP:
            sizes.append((utf8_len(text), key, text))
    nested = {key: value for key, value in data.items() if isinstance(value, dict) and depth < 3}
    for key, value in nested.items():
        size = utf8_len(_as_text(value))
        if size > _MIN_KEEP:
            sizes.append((size, key, ""))
    sizes.sort(key=lambda item: item[0], reverse=True)
    need = excess + len(_marker(10**9, 10**9)) * len(sizes)
    cap, total = 0, 0
    for count, (size, _, _) in enumerate(sizes, 1):
        total += size
        cap = max((total - need) // count, 0)
        if count == len(sizes) or cap >= sizes[count][0]:
            break
    result = dict(data)
    for size, key, text in sizes:
        if size <= cap:
            break
        if key in nested:
            result[key] = _shrink(nested[key], size - cap, depth + 1)
        else:
            # Bytes to characters: the field's own ratio (escapes, multi-byte characters).
            result[key] = _cut_text(text, cap * len(text) // size)
    return result


def fit_line(data: dict[Any, Any], limit: int, encode: Callable[[dict[Any, Any]], str]) -> str:
    """Encode ``data`` in at most ``limit`` UTF-8 bytes, cutting inside its longest fields.

    Called only for a record whose encoding was longer than ``limit``. Each cut field keeps its
    head and tail around a marker saying how many characters were cut; the result stays one
    valid JSON object. Should cutting values not suffice (thousands of small fields), the first
    six keys are kept, shortened, with a ``truncated`` key saying how many fields were dropped.
    """
    text = encode(data)
    for _ in range(6):  # each pass measures again: escapes make byte counts approximate
        excess = utf8_len(text) - limit
        if excess <= 0:
            return text
        data = _shrink(data, excess)
        text = encode(data)
    if utf8_len(text) <= limit:
        return text
    head = list(data.items())[:6]
    short = {
        _cut_text(str(key), 64): v
        if v is None or isinstance(v, (bool, int, float))
        else _cut_text(_as_text(v), limit // 64)
        for key, v in head
    }
    short["truncated"] = f"{len(data) - len(head)} fields dropped to fit max_line_bytes"
    return encode(short)
