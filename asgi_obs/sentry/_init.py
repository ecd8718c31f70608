"""``init_sentry()``: Sentry initialised from the environment, wired for asgi_obs."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

from ._events import before_breadcrumb, before_send, ensure_registered

__all__ = ["init_sentry"]


def _chain(first: Callable[..., Any], user: Callable[..., Any] | None) -> Callable[..., Any]:
    if user is None:
        return first

    def chained(item: Any, hint: Any) -> Any:
        item = first(item, hint)
        return None if item is None else user(item, hint)

    chained.__name__ = f"{first.__name__}_then_{getattr(user, '__name__', 'user_hook')}"
    return chained


def _sample_rate(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        rate = float(value)
    except (TypeError, ValueError):
        rate = -1.0
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"SENTRY_TRACES_SAMPLE_RATE={value!r} is not a number between 0 and 1")
    return rate


def _spotlight_from_env(value: str | None) -> str | bool:
    """``SENTRY_SPOTLIGHT`` as sentry-sdk reads it: a URL, or a boolean word (``1``, ``true`` ...)."""
    if not value or not value.strip():
        return False
    text = value.strip()
    lowered = text.lower()
    if lowered in ("0", "false", "f", "n", "no", "off"):
        return False
    if lowered in ("1", "true", "t", "y", "yes", "on"):
        return True
    return text


def _choose_transport(options: dict[str, Any]) -> None:
    """:class:`~asgi_obs.sentry.transport.QuietHttpTransport` unless the caller chose a transport."""
    experiments = options.get("_experiments") or {}
    if "transport" in options or experiments.get("transport_http2") or experiments.get("transport_async"):
        return
    from sentry_sdk.integrations.logging import ignore_logger

    from .transport import OUTAGE_LOGGER, QuietHttpTransport

    options["transport"] = QuietHttpTransport
    ignore_logger(OUTAGE_LOGGER)  # a line about Sentry itself is neither a breadcrumb nor an event


def init_sentry(**options: Any) -> bool:
    """Initialise Sentry from the environment, wired for asgi_obs; ``False`` when there is nowhere to send.

    Reads ``SENTRY_DSN``, ``SENTRY_SPOTLIGHT``, ``SENTRY_ENVIRONMENT``, ``SENTRY_RELEASE`` and
    ``SENTRY_TRACES_SAMPLE_RATE`` (an invalid rate raises ``ValueError``); keyword ``options``
    win over the environment and go to ``sentry_sdk.init``. Without a DSN and without Spotlight
    (``SENTRY_SPOTLIGHT``, or ``spotlight=``: events to a local Spotlight sidecar, no DSN
    needed) it returns ``False`` and changes nothing. Otherwise INFO records become breadcrumbs
    and ERROR records events
    (``LoggingIntegration(level=INFO, event_level=ERROR)`` unless ``integrations`` has one), the
    user's ``before_send``/``before_breadcrumb`` run *after* ours (chained, never replaced), the
    event processor is registered, and it returns ``True``. Events go through
    :class:`~asgi_obs.sentry.transport.QuietHttpTransport` (sentry-sdk's HTTP transport without
    immediate reconnects, one log line per outage on ``asgi_obs.sentry``) unless ``transport``
    or sentry-sdk's HTTP/2 or async transport (``_experiments``) is chosen.

    Breadcrumbs need the loggers' level at INFO or below. With FastAPI, set
    ``failed_request_status_codes`` on ``StarletteIntegration``/``FastApiIntegration`` if you
    change which statuses are failures. Call it before building the app: framework integrations
    patch route construction.
    """
    dsn = options.pop("dsn", None) or os.environ.get("SENTRY_DSN")
    spotlight = options.get("spotlight")
    if spotlight is None:
        spotlight = _spotlight_from_env(os.environ.get("SENTRY_SPOTLIGHT"))
    if not dsn and not spotlight:
        return False
    import sentry_sdk
    from sentry_sdk.integrations.logging import LoggingIntegration

    rate = _sample_rate(options.pop("traces_sample_rate", os.environ.get("SENTRY_TRACES_SAMPLE_RATE")))
    if rate is not None:
        options["traces_sample_rate"] = rate
    for key, env in (("environment", "SENTRY_ENVIRONMENT"), ("release", "SENTRY_RELEASE")):
        value = options.get(key) or os.environ.get(env)
        if value:
            options[key] = value
    integrations = list(options.pop("integrations", []))
    if not any(isinstance(i, LoggingIntegration) for i in integrations):
        integrations.append(LoggingIntegration(level=logging.INFO, event_level=logging.ERROR))
    options["before_send"] = _chain(before_send, options.get("before_send"))
    options["before_breadcrumb"] = _chain(before_breadcrumb, options.get("before_breadcrumb"))
    if spotlight and "spotlight" not in options:
        options["spotlight"] = spotlight
    _choose_transport(options)
    sentry_sdk.init(dsn=dsn or None, integrations=integrations, **options)
    ensure_registered()
    return True
