"""Service-level Sentry helpers. Each one is safe, and a no-op, when Sentry is off.

Sentry is optional here: ``init_sentry()`` only imports ``sentry_sdk`` when ``SENTRY_DSN`` is set
(sentry-sdk is not even among the example's dependencies), so nothing in this module imports it
unless it is already in use.
"""

from __future__ import annotations

import sys

__all__ = ["sentry_enabled", "set_user"]


def sentry_enabled() -> bool:
    """Tell whether events are being sent: ``sentry_sdk`` is in use and its client has a DSN.

    The DSN is the test, not ``client.is_active()``: a client initialised without a DSN is
    "active" for sentry-sdk, yet sends nothing.
    """
    sdk = sys.modules.get("sentry_sdk")
    return sdk is not None and bool(sdk.get_client().dsn)


def set_user(user_id: int | str) -> bool:
    """Attach ``user_id`` to the current request's Sentry events; ``False`` when Sentry is off.

    asgi_obs runs every request in its own Sentry isolation scope, so the user is on this
    request's events only, never on a concurrent or later request's.
    """
    if not sentry_enabled():
        return False
    import sentry_sdk  # already imported: sentry_enabled() checked it

    sentry_sdk.set_user({"id": str(user_id)})
    return True
