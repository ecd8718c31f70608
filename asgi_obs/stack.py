"""``build_stack``: the three layers in the one order that works."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

from ._core import FusedStack
from ._types import ASGIApp
from .access_log import AccessLogMiddleware
from .errors import ErrorMiddleware
from .redaction import DEFAULT_REDACTED_PARAMS
from .request_context import RequestContextMiddleware

__all__ = ["build_stack"]


def build_stack(
    app: ASGIApp,
    *,
    access_log: bool = True,
    # RequestContextMiddleware
    header: str = "X-Request-ID",
    trust_incoming: bool = True,
    generator: Callable[[], str] | None = None,
    validator: Callable[[str], bool] | None = None,
    # AccessLogMiddleware
    skip_paths: Iterable[str] = (),
    level_for: Callable[[int, str], int] | None = None,
    redact_query_params: Iterable[str] = DEFAULT_REDACTED_PARAMS,
    max_query_length: int = 2048,
    trusted_proxies: Iterable[str] = (),
    # ErrorMiddleware
    problem_json: bool = False,
    capture_5xx_responses: bool = True,
) -> ASGIApp:
    """Wrap ``app`` in the asgi_obs layers, outermost first::

        RequestContextMiddleware   ids in, ids out, context variables set and reset
          AccessLogMiddleware      one record per request, at completion
            ErrorMiddleware        one error record and one Sentry event per failure, the 500
              app

    What it returns is a :class:`~asgi_obs._core.FusedStack`: the three layers' work done in
    one coroutine frame per request, with one ``receive``/``send`` wrapper, behaving exactly
    as the classes nested by hand (the same code decides and acts; its parts are the three
    layer objects). With the environment variable ``ASGI_OBS_STACK=nested`` it returns them
    nested instead, to compare the two (the test suite runs against both).

    The order matters: the error layer's 500 must pass through the access layer (to be
    recorded) and the context layer (to carry ``X-Request-ID``), and both inner layers log
    with the ids set. Each option goes to the layer that owns it (see the classes);
    ``access_log=False`` leaves the access layer out. Options are validated here, eagerly.

    Wrap the *whole* application (``app = build_stack(Starlette(...))``), not as an entry in a
    framework's middleware list: there it would run inside the framework's own error handling,
    and the framework's 500 would not carry the ids.
    """
    error = ErrorMiddleware(
        app,
        problem_json=problem_json,
        capture_5xx_responses=capture_5xx_responses,
        redact_query_params=redact_query_params,
    )
    access = None
    if access_log:
        access = AccessLogMiddleware(
            error,
            skip_paths=skip_paths,
            level_for=level_for,
            redact_query_params=redact_query_params,
            max_query_length=max_query_length,
            trusted_proxies=trusted_proxies,
        )
    context = RequestContextMiddleware(
        access if access is not None else error,
        header=header,
        trust_incoming=trust_incoming,
        generator=generator,
        validator=validator,
    )
    if os.environ.get("ASGI_OBS_STACK", "").strip().lower() == "nested":
        return context  # the classes nested by hand (the same behaviour; see the docstring)
    return FusedStack(app, context, access, error)
