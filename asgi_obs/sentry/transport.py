"""The transport :func:`~asgi_obs.sentry.init_sentry` gives sentry-sdk: cheap and quiet when Sentry is down.

Imports ``sentry_sdk``: import it only where sentry-sdk is installed (``init_sentry`` does, when
it initialises Sentry). sentry-sdk's own ``HttpTransport`` with two changes, both measured by
``bench/sentry_outage.py``:

* **No immediate reconnects.** sentry-sdk's urllib3 pool keeps urllib3's default ``Retry(3)``.
  For a ``POST`` only errors while *connecting* are retried, with no pause, so an unreachable
  Sentry (connection refused, no route, a failed DNS lookup) costs four connection attempts and
  three urllib3 ``Retrying ...`` WARNING lines per event, on sentry-sdk's worker thread, which
  competes with the event loop for the GIL: with frequent failures that slowed every request.
  Here a connection that cannot be made is not retried at once (an event is never sent twice
  either way, and once a connection is made nothing changes: sending and reading the answer
  were never retried for a ``POST``).
* **One line per outage instead of three per event.** The first event Sentry does not take
  (network error, a non-2xx answer, rate limit, sentry-sdk's queue full) writes one WARNING on
  logger ``asgi_obs.sentry``; the first one it takes again writes one INFO with the number of
  events dropped meanwhile. Another WARNING comes at most once a minute while Sentry flaps.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import urllib3
from sentry_sdk.transport import HttpTransport

__all__ = ["OUTAGE_LOGGER", "QuietHttpTransport"]

OUTAGE_LOGGER = "asgi_obs.sentry"
_log = logging.getLogger(OUTAGE_LOGGER)
_REANNOUNCE_AFTER = 60.0  # seconds between two WARNINGs when Sentry flaps
# sentry-sdk's loss reasons that mean "the transport could not deliver" (not sampling, not
# before_send, not an event processor: those are decisions, not an outage) ...
_DELIVERY_LOSSES = frozenset({"network_error", "send_error", "queue_overflow", "ratelimit_backoff"})
# ... and the item categories that are events (not client reports, spans, sessions, bytes).
_EVENT_CATEGORIES = frozenset({"error", "transaction"})


class _OutageLog:
    """Counts dropped events; logs when Sentry stops taking events and when it takes them again."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._down = False
        self._announced = False  # a WARNING was written for the drops counted so far
        self._last_warning: float | None = None
        self._dropped = 0
        self._since = 0.0

    def lost_event(self) -> None:
        """One event (error or transaction) the transport could not deliver."""
        with self._lock:
            self._dropped += 1

    def dropped(self, reason: str) -> None:
        """An envelope not taken (any thread: a full queue is noticed on the request's thread)."""
        now = time.monotonic()
        with self._lock:
            if self._down:
                return
            self._down, self._since = True, now
            warn = self._last_warning is None or now - self._last_warning >= _REANNOUNCE_AFTER
            if warn:
                self._announced, self._last_warning = True, now
        if warn:
            _log.warning(
                "Sentry is not taking events: dropping them until it does",
                extra={"sentry_drop_reason": reason},
            )

    def delivered(self) -> None:
        """Sentry took an envelope (the worker thread, after each successful send)."""
        if not self._down:  # the common case: no lock
            return
        with self._lock:
            was_down, self._down = self._down, False
            if not was_down or not self._announced:  # a flap inside the minute: the next line says
                return
            self._announced = False
            dropped, seconds = self._dropped, time.monotonic() - self._since
            self._dropped = 0
        _log.info(
            "Sentry is taking events again",
            extra={"sentry_dropped_events": dropped, "sentry_outage_seconds": round(seconds, 3)},
        )


class QuietHttpTransport(HttpTransport):
    """sentry-sdk's ``HttpTransport`` without immediate reconnects, logging once per outage.

    Pass it as ``sentry_sdk.init(transport=QuietHttpTransport)`` when configuring Sentry by
    hand; :func:`~asgi_obs.sentry.init_sentry` does unless ``transport=`` or one of
    sentry-sdk's other transports (``_experiments`` ``transport_http2``/``transport_async``) is
    chosen. Everything else (queue size, timeouts, proxies, keep-alive, compression, client
    reports, rate limits) is sentry-sdk's.
    """

    def __init__(self, options: dict[str, Any]) -> None:
        self.outage = _OutageLog()
        self._send_failed = False
        super().__init__(options)

    def _get_pool_options(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        # Signatures differ between sentry-sdk versions (2.12 takes the certificates): pass through.
        options: dict[str, Any] = super()._get_pool_options(*args, **kwargs)
        # urllib3's default is Retry(3): the same bounds, minus reconnecting at once.
        options.setdefault("retries", urllib3.util.Retry(total=3, connect=0))
        return options

    def on_dropped_event(self, reason: str) -> None:
        """sentry-sdk's hook, called for each envelope or event it gives up on."""
        if reason != "full_queue":  # the worker's own send failed (a full queue is the caller's)
            self._send_failed = True
        self.outage.dropped(reason)

    def record_lost_event(
        self, reason: str, data_category: Any = None, item: Any = None, *, quantity: int = 1
    ) -> None:
        """sentry-sdk's loss counter (for its client reports); also counts the outage's events."""
        super().record_lost_event(reason, data_category, item, quantity=quantity)
        if reason in _DELIVERY_LOSSES:
            category = item.data_category if item is not None else data_category
            if category in _EVENT_CATEGORIES:
                self.outage.lost_event()

    def _send_request(self, *args: Any, **kwargs: Any) -> None:
        # Runs on sentry-sdk's single worker thread; raises on a network error.
        self._send_failed = False
        super()._send_request(*args, **kwargs)
        if not self._send_failed:
            self.outage.delivered()
