"""asgi_obs: structured JSON logs, request ids and one Sentry event per failure, for any ASGI app.

Start with :func:`init_structured_logging` and :func:`build_stack`::

    from asgi_obs import build_stack, init_structured_logging

    init_structured_logging()
    app = build_stack(app)

Module map (one concern each; DESIGN §2):

=====================  ==========================================================================
``stack``              ``build_stack()``: the three layers in their one working order, fused
``_core``              ``Layers``: the one request flow every layer runs; ``FusedStack``
``request_context``    ``RequestContextMiddleware``: ids in and out, context variables, Sentry scope
``access_log``         ``AccessLogMiddleware``: one record per request, at completion
``errors``             ``ErrorMiddleware``: each failure logged once, reported once, the 500
``_failure``           the error layer's decision table (DESIGN §6), apart from its actions
``_error_record``      writing the error record (traceback once, framework records absorbed)
``_response``          ``ResponseTracker``: the one receive/send wrapper every layer reads
``_read_ahead``        noticing a client gone while a response streams (uvicorn ignores sends)
``_detach``            the completing send, outside the request's context (pipelining)
``_responses``         the 500 the error layer sends (HTTP and WebSocket denial)
``classify``           ``classify()``: what a request's ending was, and the status to record
``context``            the ContextVars, ``RequestState``, ``bind()``, ``get_request_id()`` ...
``background``         ``capture_context()``: the request's context for work done elsewhere
``ids``                request-id validation and generation; ``sentry-trace``/``traceparent``
``_otel``              the trace of a current OpenTelemetry span (only if the app imported OTel)
``propagation``        ``outgoing_headers()``, ``inject_headers()`` for outgoing calls
``fields``             the output vocabulary: logger names, field names, reserved names
``request_info``       route template, capped path, WebSocket frame sizes
``redaction``          ``QueryRedactor``: the one redactor of logs and Sentry; ``_scrub`` by value
``proxies``            ``TrustedProxies``: ``client_ip`` behind reverse proxies
``_marks``             markers on exceptions: logged / reported once per request
``_absorb``            a framework's own error record, held for the error record to absorb
``logging_config``     ``init_structured_logging()``, server log configs; ``_options`` its options
``handler``            ``JsonLineHandler``; ``_delivery`` one write per line (pipe lock), ``_enqueue``
``formatter``          ``CustomJsonFormatter``; ``_json`` encoding; ``schemas/`` ECS, OTel, GCP
``console``            ``ConsoleFormatter``: readable lines for development
``filters``            ``ContextFilter``, ``ServerDuplicateFilter``, ``SuppressUnwantedLogsFilter``
``_emit``              writing a layer's record cheaply; ``_root_check`` a replaced root handler
``_direct``            the access line written straight from its fields when nobody else looks
``sentry/``            optional Sentry glue (imports ``sentry_sdk`` only once it is in use)
``_types``/``_compat``  ASGI type aliases; Python-version differences
=====================  ==========================================================================
"""

from __future__ import annotations

from .access_log import AccessLogMiddleware
from .background import ContextSnapshot, capture_context
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
    "ContextSnapshot",
    "CustomJsonFormatter",
    "ErrorMiddleware",
    "RequestContextMiddleware",
    "RequestState",
    "ServerDuplicateFilter",
    "SuppressUnwantedLogsFilter",
    "__version__",
    "bind",
    "build_stack",
    "capture_context",
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
