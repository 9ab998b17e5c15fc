"""``manage.py sync_beat_schedule [--dry-run] [--prune]``: the Celery app's ``beat_schedule`` as schedules."""

from __future__ import annotations

import argparse
from datetime import datetime
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

        parser.add_argument(
            "--since",
            type=_instant,
            help="when the beat that ran these entries stopped (ISO 8601 with an offset, e.g. 2027-01-04T09:30:00Z): "
            "each schedule runs from its first fire time after it (docs/MIGRATING.md)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            report = sync(prune=options["prune"], dry_run=options["dry_run"], since=options["since"])
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


def _instant(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--since: {text!r} is not an ISO 8601 date and time") from None
    if moment.utcoffset() is None:
        raise argparse.ArgumentTypeError(f"--since: {text!r} needs an offset (Z or +01:00): the instant is ambiguous")
    return moment
