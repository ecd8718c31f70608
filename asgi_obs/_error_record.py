"""The error record: one ERROR line per failed request, with its traceback written once."""

from __future__ import annotations

import logging

from . import _absorb, _marks
from ._emit import emit_record, report_internal_error
from ._types import Scope
from .context import state_var
from .fields import method_of
from .request_info import capped_path

__all__ = ["write_error_record"]


def write_error_record(
    logger: logging.Logger, scope: Scope, message: str, status: int | None, exc: BaseException | None
) -> BaseException | None:
    """Write the failure's error record on ``logger`` (with the traceback unless already logged).

    Called by :class:`~asgi_obs.ErrorMiddleware` while the request's context is still set, so
    the record carries its ids. A framework's own record of the failure, held aside
    (:mod:`asgi_obs._absorb`), is absorbed into it: without ``exc``, that record's exception is
    the one reported. Returns the exception reported (for the Sentry event). Never raises.
    """
    try:
        state = state_var.get()
        exc, absorbed_from = _absorb.consume(state, exc)
        fields: dict[str, object] = {"method": method_of(scope), "path": capped_path(scope), "status": status}
        traceback: BaseException | None = None
        if exc is not None:
            fields["error_type"] = type(exc).__qualname__
            fields["error_message"] = _safe_str(exc)
            if _marks.is_logged(exc, state):
                fields["traceback_logged"] = "earlier in this request"
            else:
                traceback = exc
        if absorbed_from is not None:
            fields["absorbed_from"] = absorbed_from
        emit_record(logger, logging.ERROR, message, fields, traceback, kind="error")
        if exc is not None:
            _marks.mark_logged(exc, state)
    except Exception as internal:  # noqa: BLE001 - reporting must never fail the request
        report_internal_error("writing the error record", internal)
    return exc


def _safe_str(exc: BaseException) -> str:
    try:
        return str(exc)[:1000]
    except Exception:  # noqa: BLE001 - an exception with a broken __str__ still gets reported
        return f"<unprintable {type(exc).__qualname__}>"
