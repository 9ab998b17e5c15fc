"""``manage.py schedules``: every schedule with its next run, last status and policy."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from scheduling.surfaces import reporting


class Command(BaseCommand):
    help = "List schedules: job, timing, state, next run, last status, overlap and misfire policy."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--due", action="store_true", help="only enabled schedules due now")
        parser.add_argument("--tenant", help="only this tenant's schedules")
        parser.add_argument("--json", action="store_true", help="a JSON array instead of a table")

    def handle(self, *args: Any, **options: Any) -> None:
        now = timezone.now()
        rows = reporting.schedule_rows(now=now, due_only=options["due"], tenant=options["tenant"])
        if options["json"]:
            self.stdout.write(reporting.render_json(rows))
            return
        if not rows:
            self.stdout.write("no schedules" + (" due" if options["due"] else ""))
            return
        for line in reporting.render_table(rows, now=now):
            self.stdout.write(line)
