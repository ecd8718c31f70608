"""Writing a record built by a layer, such that a logging failure never breaks a request."""

from __future__ import annotations

import logging
import sys
from typing import Any

__all__ = ["emit_record", "report_internal_error"]


def report_internal_error(what: str, exc: BaseException) -> None:
    """Tell the operator on stderr that asgi_obs itself failed, without raising.

    Mirrors ``logging.Handler.handleError``: silent when ``logging.raiseExceptions`` is off.
    """
    if not logging.raiseExceptions:
        return
    try:
        sys.stderr.write(f"asgi_obs: {what} failed: {type(exc).__name__}: {exc}\n")
    except Exception:  # noqa: BLE001 - stderr itself is broken: nowhere left to report
        return


def emit_record(
    logger: logging.Logger,
    level: int,
    message: str,
    fields: dict[str, Any],
    exc_info: BaseException | None = None,
) -> None:
    """Hand one record with ``fields`` as attributes to ``logger``; never raises.

    The record is built directly (no ``findCaller`` stack walk: the caller is always the
    layer, which is not worth a frame inspection per request) and its message is final (no
    ``%`` arguments), so a ``%`` in a path cannot break it.
    """
    try:
        record = logger.makeRecord(
            logger.name,
            level,
            __file__,
            0,
            message,
            (),
            (type(exc_info), exc_info, exc_info.__traceback__) if exc_info is not None else None,
        )
        record.__dict__.update(fields)
        logger.handle(record)
    except Exception as exc:  # noqa: BLE001 - a broken handler or filter must not fail the request
        report_internal_error(f"writing a {logger.name} record", exc)
