"""API token authentication against hashed keys, with expiry (``scheduling.surfaces.api.tokens``).

``Authorization: Token <key>`` as before (DRF's header parsing, its ``WWW-Authenticate``), but
the key is looked up by its digest (``ApiToken.objects.find``: prefix, then a constant-time
comparison), never stored or compared in plain text. A key older than
``API_TOKEN_MAX_AGE_SECONDS`` (counted from ``ApiToken.issued_at``, which rotation renews) is
refused with a 401 that says how to get a new one; ``0`` turns expiry off.

Requests with a key that matches no token are counted per client address
(``scheduling.surfaces.api.throttle``): past ``API_TOKEN_FAILURE_LIMIT`` in a window, the address's token
requests get ``429`` until the window ends. Keys are never logged.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication, get_authorization_header

from scheduling.surfaces.api.throttle import client_address, token_failures
from scheduling.surfaces.api.tokens import ApiToken

ROTATE_HINT = "Rotate it with `manage.py api_token USERNAME --rotate` or in the admin (API tokens, action Rotate)."


class UnknownToken(exceptions.AuthenticationFailed):
    """No token has this key (a typo, a revoked or rotated key, or a guess)."""

    default_detail = "Invalid token."


class TooManyFailures(exceptions.Throttled):
    default_detail = "Too many requests with an unknown API token from your address."


class ExpiringTokenAuthentication(TokenAuthentication):
    keyword = "Token"

    def authenticate(self, request: Any) -> tuple[Any, ApiToken] | None:
        words = get_authorization_header(request).split()
        if not words or words[0].lower() != self.keyword.lower().encode():
            return None  # no token: nothing to count (sessions and anonymous requests)
        failures = token_failures()
        address = client_address(request)
        wait = failures.blocked_seconds(address)
        if wait:
            raise TooManyFailures(wait=wait)
        try:
            found: tuple[Any, ApiToken] | None = super().authenticate(request)
        except UnknownToken:
            failures.record(address)
            raise
        return found

    def authenticate_credentials(self, key: str) -> tuple[Any, ApiToken]:
        token = ApiToken.objects.find(key)
        if token is None:
            raise UnknownToken()
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("User inactive or deleted.")
        if token.is_expired(timezone.now()):
            max_age = int(settings.API_TOKEN_MAX_AGE_SECONDS)
            raise exceptions.AuthenticationFailed(
                f"Token expired: tokens are valid for {max_age} seconds (API_TOKEN_MAX_AGE_SECONDS). {ROTATE_HINT}"
            )
        return token.user, token
