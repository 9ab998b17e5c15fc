"""Counting failures per client address in Django's cache: unknown API tokens (and the address logins use).

After ``API_TOKEN_FAILURE_LIMIT`` requests with a key that matches no token from one address
within a window of ``API_TOKEN_FAILURE_WINDOW_SECONDS``, every request from that address that
presents a token is answered ``429`` until the window ends (``Retry-After`` says when). Keys are
256 random bits, so guessing one is hopeless anyway: the limit keeps a client from making the
server look up keys without end, and shows a misconfigured client its mistake. Sessions and
requests without a token are not affected.

Windows are aligned on multiples of their length (one cache key per address and window, expiring
with it): a window's end is known without storing it, at the cost that failures straddling two
windows may reach twice the limit before the 429. The counter store is the ``default`` cache,
Redis in the standalone project, so every web process counts together; a cache that does not
answer counts nothing (the request goes on) rather than refusing every client.

``client_address`` is also the address that login throttling (django-axes, in the project's
settings) counts by.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.conf import settings
from django.core.cache import caches

logger = logging.getLogger(__name__)

KEY_PREFIX = "api-token-failures"


def client_address(request: Any) -> str:
    """The client's address: ``REMOTE_ADDR``, or with ``TRUSTED_PROXY_COUNT`` proxies in front, the
    address the outermost trusted proxy saw (that many entries from the right of ``X-Forwarded-For``).

    Entries further left are the client's own claims and are never used.
    """
    meta = request.META
    proxies = int(getattr(settings, "TRUSTED_PROXY_COUNT", 0))
    if proxies:
        forwarded = [part.strip() for part in str(meta.get("HTTP_X_FORWARDED_FOR", "")).split(",") if part.strip()]
        if len(forwarded) >= proxies:
            return forwarded[-proxies]
    return str(meta.get("REMOTE_ADDR") or "unknown")


class FailureWindow:
    """Failures per address in fixed windows of ``window_seconds``, in the ``default`` cache."""

    def __init__(self, *, limit: int, window_seconds: int, clock: Any = time.time) -> None:
        self.limit = limit
        self.window_seconds = window_seconds
        self._clock = clock

    def _key(self, address: str) -> tuple[str, int]:
        now = self._clock()
        window = int(now // self.window_seconds)
        remaining = int((window + 1) * self.window_seconds - now) + 1
        return f"{KEY_PREFIX}:{address}:{window}", remaining

    def blocked_seconds(self, address: str) -> int:
        """Seconds until ``address`` may try again (0: it may now)."""
        key, remaining = self._key(address)
        try:
            count = int(caches["default"].get(key, 0))
        except Exception:  # any cache backend's own error: count nothing rather than refuse everyone
            logger.warning("cannot read API token failures from the cache; not limiting", exc_info=True)
            return 0
        return remaining if count >= self.limit else 0

    def record(self, address: str) -> None:
        """Count one failure of ``address`` in the current window."""
        key, remaining = self._key(address)
        cache = caches["default"]
        try:
            if not cache.add(key, 1, timeout=remaining):
                cache.incr(key)
        except ValueError:  # expired between add and incr: a new window
            cache.add(key, 1, timeout=remaining)
        except Exception:
            logger.warning("cannot count an API token failure in the cache", exc_info=True)


def token_failures() -> FailureWindow:
    """The window for unknown API tokens (defaults for a host project that sets neither setting)."""
    return FailureWindow(
        limit=int(getattr(settings, "API_TOKEN_FAILURE_LIMIT", 20)),
        window_seconds=int(getattr(settings, "API_TOKEN_FAILURE_WINDOW_SECONDS", 600)),
    )
