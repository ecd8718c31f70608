"""Optional Sentry glue: one event per failure, the right breadcrumbs, matching trace ids.

Importing this package does not import ``sentry_sdk``; nothing here runs unless the application
uses Sentry. What happens, and when:

* the first request handled while a Sentry client is active registers (once) a global event
  processor, :func:`event_processor`. For every event it drops duplicates (an exception, or one
  of its ``__cause__``/``__context__`` chain, already reported during the same request),
  drops events made from the layers' own records (whatever logger names they were given), tags
  ``request_id``/``trace_id``, adds the request's method and URL (query redacted with the
  layers' redactor) when no integration did;
* each request runs in its own Sentry isolation scope, on the request's trace
  (:class:`~asgi_obs.RequestContextMiddleware`, :mod:`asgi_obs.sentry._request`);
* the error layer captures unhandled exceptions (mechanism ``asgi_obs``) and 5xx responses.

For a Sentry set up by hand, :func:`before_send` and :func:`before_breadcrumb` are ready to
pass to ``sentry_sdk.init``; :func:`init_sentry` does all of it from environment variables.

Modules: ``_events`` (the processor and hooks; no ``sentry_sdk`` import at load), ``_init``
(:func:`init_sentry`), ``_request`` (per-request scope and capture; imports ``sentry_sdk``, so
it is loaded by :func:`request_module` only once a client is active).
"""

from __future__ import annotations

import sys
from types import ModuleType

from ._events import before_breadcrumb, before_send, ensure_registered, event_processor, ignore_layer_logger
from ._init import init_sentry

__all__ = [
    "before_breadcrumb",
    "before_send",
    "ensure_registered",
    "event_processor",
    "ignore_layer_logger",
    "init_sentry",
    "is_active",
    "request_module",
]


def is_active() -> bool:
    """Tell whether ``sentry_sdk`` is imported and a client that sends events is active.

    ``sentry_sdk.init()`` without a DSN makes an "active" client with no transport: events go
    nowhere, so asgi_obs treats it as no Sentry (no scope forking, no ``sentry-trace`` out) —
    unless Spotlight is on (``SENTRY_SPOTLIGHT``): then events go to the local sidecar.
    """
    sdk = sys.modules.get("sentry_sdk")
    if sdk is None:
        return False
    client = sdk.get_client()
    # A DSN-less client with Spotlight has no transport, but sends to the local sidecar.
    return bool(client.is_active()) and (
        getattr(client, "transport", None) is not None or getattr(client, "spotlight", None) is not None
    )


_request_module: ModuleType | None = None


def request_module() -> ModuleType:
    """The per-request Sentry module (:mod:`asgi_obs.sentry._request`), imported on first use.

    Called only once :func:`is_active` said yes: that module imports ``sentry_sdk``. Cached so
    that the request path runs no import statement.
    """
    global _request_module
    if _request_module is None:
        from . import _request

        _request_module = _request
    return _request_module
