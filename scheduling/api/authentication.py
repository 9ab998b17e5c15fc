"""API token authentication against hashed keys, with expiry (``scheduling.api.tokens``).

``Authorization: Token <key>`` as before (DRF's header parsing, its ``WWW-Authenticate``), but
the key is looked up by its digest (``ApiToken.objects.find``: prefix, then a constant-time
comparison), never stored or compared in plain text. A key older than
``API_TOKEN_MAX_AGE_SECONDS`` (counted from ``ApiToken.issued_at``, which rotation renews) is
refused with a 401 that says how to get a new one; ``0`` turns expiry off.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication

from scheduling.api.tokens import ApiToken

ROTATE_HINT = "Rotate it with `manage.py api_token USERNAME --rotate` or in the admin (API tokens, action Rotate)."


class UnknownToken(exceptions.AuthenticationFailed):
    """No token has this key (a typo, a revoked or rotated key, or a guess)."""

    default_detail = "Invalid token."


class ExpiringTokenAuthentication(TokenAuthentication):
    keyword = "Token"

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
