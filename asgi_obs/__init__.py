"""asgi_obs: structured JSON logs, request ids and one Sentry event per failure, for any ASGI app.

Start with :func:`init_structured_logging` and :func:`build_stack`::

    from asgi_obs import build_stack, init_structured_logging

    init_structured_logging()
    app = build_stack(app)
"""

from __future__ import annotations

from .access_log import AccessLogMiddleware
from .classify import Classification, classify
from .console import ConsoleFormatter
from .context import RequestState, bind, get_request_id, get_trace_id, request_id_var, trace_id_var
from .errors import ErrorMiddleware
from .logging_config import (
    ContextFilter,
    CustomJsonFormatter,
    ServerDuplicateFilter,
    SuppressUnwantedLogsFilter,
    granian_log_config,
    gunicorn_log_config,
    hypercorn_log_config,
    init_structured_logging,
    uvicorn_log_config,
)
from .propagation import inject_headers, outgoing_headers
from .request_context import RequestContextMiddleware
from .sentry import init_sentry
from .stack import build_stack

__version__ = "0.1.0"

__all__ = [
    "AccessLogMiddleware",
    "Classification",
    "ConsoleFormatter",
    "ContextFilter",
    "CustomJsonFormatter",
    "ErrorMiddleware",
    "RequestContextMiddleware",
    "RequestState",
    "ServerDuplicateFilter",
    "SuppressUnwantedLogsFilter",
    "__version__",
    "bind",
    "build_stack",
    "classify",
    "get_request_id",
    "get_trace_id",
    "granian_log_config",
    "gunicorn_log_config",
    "hypercorn_log_config",
    "init_sentry",
    "init_structured_logging",
    "inject_headers",
    "outgoing_headers",
    "request_id_var",
    "trace_id_var",
    "uvicorn_log_config",
]
