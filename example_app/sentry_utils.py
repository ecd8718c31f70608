"""Service-level Sentry helpers. Each one is safe, and a no-op, when Sentry is off.

Sentry is optional here: sentry-sdk comes with the ``example`` extra, but ``init_sentry()`` only
imports ``sentry_sdk`` when ``SENTRY_DSN`` (or ``SENTRY_SPOTLIGHT``) is set, and nothing in this
module imports it unless the service already did.
"""

from __future__ import annotations

import asgi_obs.sentry

__all__ = ["sentry_enabled", "set_user"]


def sentry_enabled() -> bool:
    """Tell whether events are being sent: to a DSN, or to a local Spotlight sidecar.

    Not ``client.is_active()`` alone: a client initialised without a DSN is "active" for
    sentry-sdk, yet sends nothing (asgi_obs' ``is_active()`` tells the difference).
    """
    return asgi_obs.sentry.is_active()


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
