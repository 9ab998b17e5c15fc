"""``manage.py sync_beat_schedule [--dry-run] [--prune]``: the Celery app's ``beat_schedule`` as schedules."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from orchestrator.errors import ConstraintError
from scheduling.surfaces.imports.beat_schedule import sync


class Command(BaseCommand):
    help = (
        "Create or update one schedule per entry of the Celery app's beat_schedule (source code, named after the "
        "entry); each entry's outcome is printed: created, updated, unchanged, or skipped with the reason. One "
        "transaction. Every beat runs this sync when it starts (without --prune)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="validate and print the outcomes; write nothing")
        parser.add_argument(
            "--prune",
            action="store_true",
            help="disable code-made schedules whose entry is gone from beat_schedule (never deleted; schedules made "
            "in the admin, the API, YAML or the django-celery-beat import are never pruned)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            report = sync(prune=options["prune"], dry_run=options["dry_run"])
        except ConstraintError as exc:
            raise CommandError(str(exc)) from exc
        if not report.outcomes:
            self.stdout.write("beat_schedule is empty: nothing to sync")
        for line in report.lines():
            self.stdout.write(line)
        if report.gone:
            self.stdout.write(
                f"not in beat_schedule any more, still enabled: {', '.join(report.gone)} (--prune disables them)"
            )
