"""API tokens kept as hashes: a key is shown once, when it is issued, and never again.

DRF's ``authtoken`` stored keys in plain text, so anyone who could read the table (a staff user
with the admin's view permission, a database backup, a read replica) held every user's key. Here
the database keeps only a SHA-256 digest of the key and a short prefix that identifies it:

- A key is ``ost_`` + 43 URL-safe characters (256 random bits). A fast hash is right for that:
  nobody can guess the input, so there is nothing for a slow, salted password hash to protect
  against, and every API request can afford to compute it.
- ``prefix`` (the key's first 12 characters: ``ost_`` and 48 of its 256 bits) is not secret. The
  admin and ``manage.py api_token --list`` show it so an operator can tell keys apart, and lookups
  use it to find the candidate rows; the digests are then compared in constant time.
- Keys migrated from ``authtoken`` (40 hex characters) keep working: their prefix is their first
  12 characters (48 of 160 bits) and their digest is computed the same way.

Each user has at most one token. Issuing replaces any earlier one (rotation), so rotating needs
nobody to know the old key; ``issued_at`` restarts the age that ``API_TOKEN_MAX_AGE_SECONDS``
limits.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

KEY_MARKER = "ost_"
PREFIX_LENGTH = 12
#: ``ost_`` + ``secrets.token_urlsafe(32)`` is 47 characters; migrated DRF keys are 40.
MAX_KEY_LENGTH = 200


def new_key() -> str:
    """A fresh key: ``ost_`` and 256 random bits, URL-safe (no character needs quoting in a header)."""
    return KEY_MARKER + secrets.token_urlsafe(32)


def digest_of(key: str) -> str:
    """The stored form of ``key``: its SHA-256, in hex."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def prefix_of(key: str) -> str:
    """The non-secret part of ``key`` that identifies it (and finds its row)."""
    return key[:PREFIX_LENGTH]


class ApiTokenManager(models.Manager["ApiToken"]):
    def issue(self, user: Any, *, now: datetime | None = None) -> tuple[ApiToken, str]:
        """A new key for ``user``, replacing the one it had (rotation); returns the row and the key.

        The key is returned once, here, for the caller to show; only its digest is stored.
        """
        with transaction.atomic():
            token = self.select_for_update().filter(user=user).first() or self.model(user=user)
            key = token.assign_new_key(now or timezone.now())
            token.save()
        return token, key

    def find(self, key: str) -> ApiToken | None:
        """The token whose key is ``key`` (with its user), or None; digests are compared in constant time."""
        if not key or len(key) > MAX_KEY_LENGTH:
            return None
        wanted = digest_of(key)
        found = None
        for candidate in self.select_related("user").filter(prefix=prefix_of(key)):
            if hmac.compare_digest(candidate.digest, wanted):
                found = candidate
        return found


class ApiToken(models.Model):
    """A user's API key, as a digest. There is no field that holds the key."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_token")
    prefix = models.CharField(max_length=PREFIX_LENGTH, db_index=True, help_text="The key's first characters.")
    digest = models.CharField(max_length=64, unique=True, help_text="SHA-256 of the key, in hex.")
    issued_at = models.DateTimeField(help_text="When the key was created or last rotated; its age counts from here.")

    objects = ApiTokenManager()

    class Meta:
        app_label = "scheduling"
        verbose_name = "API token"
        verbose_name_plural = "API tokens"

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"

    def assign_new_key(self, now: datetime) -> str:
        """Give this row a fresh key issued at ``now`` (unsaved); returns the key, which nothing keeps."""
        key = new_key()
        self.prefix, self.digest, self.issued_at = prefix_of(key), digest_of(key), now
        return key

    def expires_at(self) -> datetime | None:
        """When the key stops working (``API_TOKEN_MAX_AGE_SECONDS`` after ``issued_at``); None: never."""
        max_age = int(settings.API_TOKEN_MAX_AGE_SECONDS)
        return self.issued_at + timedelta(seconds=max_age) if max_age else None

    def is_expired(self, now: datetime) -> bool:
        expires = self.expires_at()
        return expires is not None and expires <= now
