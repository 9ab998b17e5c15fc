"""API tokens that expire: a leaked key stops working by itself, not only when someone notices.

DRF's ``TokenAuthentication`` keeps a key valid until it is deleted. Here a key older than
``API_TOKEN_MAX_AGE_SECONDS`` (counted from ``Token.created``, which ``drf_create_token -r``
renews) is refused with a 401 that says how to get a new one. ``0`` turns expiry off.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication


class ExpiringTokenAuthentication(TokenAuthentication):
    def authenticate_credentials(self, key: str) -> tuple[Any, Any]:
        user, token = super().authenticate_credentials(key)
        max_age = int(settings.API_TOKEN_MAX_AGE_SECONDS)
        if max_age and token.created < timezone.now() - timedelta(seconds=max_age):
            raise exceptions.AuthenticationFailed(
                f"Token expired: tokens are valid for {max_age} seconds (API_TOKEN_MAX_AGE_SECONDS). "
                "Create a new one with `manage.py drf_create_token -r USERNAME` or in the admin."
            )
        return user, token
