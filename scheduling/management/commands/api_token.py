"""``manage.py api_token USERNAME [--rotate | --revoke]`` and ``api_token --list``: API keys from the shell.

The key is printed once, alone on stdout (``TOKEN=$(manage.py api_token bot)``); everything else
goes to stderr. Only its digest is stored, so a lost key cannot be shown again: rotate it, which
needs no old key. Replaces DRF's ``drf_create_token`` (whose table kept keys in plain text).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from scheduling.surfaces.api.tokens import ApiToken


class Command(BaseCommand):
    help = "Issue, rotate or revoke a user's API token (the key is printed once), or list tokens by prefix."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username", nargs="?", help="the token's user")
        action = parser.add_mutually_exclusive_group()
        action.add_argument("--rotate", action="store_true", help="replace the user's key (or issue a first one)")
        action.add_argument("--revoke", action="store_true", help="delete the user's token: its key stops working")
        action.add_argument("--list", action="store_true", help="every token: user, key prefix, issued, expires")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["list"]:
            self._list()
            return
        name = options["username"]
        if not name:
            raise CommandError("give a USERNAME (or --list)")
        user_model = get_user_model()
        try:
            user = user_model._default_manager.get_by_natural_key(name)
        except user_model.DoesNotExist:
            raise CommandError(f"no user named {name!r}") from None
        existing = ApiToken.objects.filter(user=user).first()
        if options["revoke"]:
            if existing is None:
                raise CommandError(f"{name} has no token")
            existing.delete()
            self.stderr.write(f"revoked {name}'s token ({existing.prefix}…): it no longer works")
            return
        if existing is not None and not options["rotate"]:
            raise CommandError(
                f"{name} already has a token ({existing.prefix}…, issued {existing.issued_at:%Y-%m-%d %H:%M} UTC); "
                "its key cannot be shown again. Pass --rotate to replace it."
            )
        token, key = ApiToken.objects.issue(user)
        verb = "rotated" if existing is not None else "issued"
        expires = token.expires_at()
        self.stderr.write(
            f"{verb} {name}'s token {token.prefix}… "
            f"(expires {'never' if expires is None else f'{expires:%Y-%m-%d %H:%M} UTC'}); "
            "the key is printed once, on stdout:"
        )
        self.stdout.write(key)

    def _list(self) -> None:
        for token in ApiToken.objects.select_related("user").order_by("user__username"):
            expires = token.expires_at()
            self.stdout.write(
                f"{token.user.get_username()}\t{token.prefix}…\tissued {token.issued_at:%Y-%m-%d %H:%M} UTC\t"
                f"expires {'never' if expires is None else f'{expires:%Y-%m-%d %H:%M} UTC'}"
            )
