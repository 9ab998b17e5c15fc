"""``manage.py smoke [--base-url URL] [--token T] [--timeout 180]``: check a running deployment end to end."""

from __future__ import annotations

import os
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from scheduling.ops.smoke import Api, Smoke, SmokeFailed


class Command(BaseCommand):
    help = (
        "Check a running deployment through its REST API: a temporary schedule fires and succeeds, run-now "
        "works, max_concurrency=1 holds. Removes what it created. Exits non-zero on the first failure."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--base-url", default=os.environ.get("SMOKE_BASE_URL", "http://127.0.0.1:8000"))
        parser.add_argument(
            "--token",
            default=os.environ.get("SMOKE_TOKEN"),
            help="an API token of a user who may add, run and delete schedules (default: $SMOKE_TOKEN)",
        )
        parser.add_argument("--timeout", type=float, default=180.0, help="seconds for the whole test (default 180)")

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["token"]:
            raise CommandError(
                "--token (or SMOKE_TOKEN) is required: an API token "
                "(`manage.py api_token USERNAME`, or admin: API tokens)"
            )
        if options["timeout"] <= 0:
            raise CommandError(f"--timeout must be more than 0 seconds, not {options['timeout']:g}")
        try:
            api = Api(options["base_url"], options["token"])
        except SmokeFailed as exc:
            raise CommandError(str(exc)) from exc
        smoke = Smoke(api, timeout_seconds=options["timeout"], out=self.stdout)
        self.stdout.write(f"smoke test of {options['base_url']} (timeout {options['timeout']:g}s)")
        try:
            smoke.run()
        except SmokeFailed as exc:
            raise CommandError(f"smoke test failed: {exc}") from exc
        self.stdout.write("smoke test passed")
