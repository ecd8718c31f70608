"""JSON encoding helpers: orjson when installed, and rendering what JSON cannot encode."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from types import ModuleType
from typing import Any

__all__ = ["ORJSON", "orjson_dumps", "render_value", "stringify"]

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
