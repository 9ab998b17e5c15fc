"""``manage.py schedules``: every schedule with its next run, last status and policy."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from scheduling.surfaces import rows


class Command(BaseCommand):
    help = "List schedules: job, timing, state, next run, last status, overlap and misfire policy."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--due", action="store_true", help="only enabled schedules due now")
        parser.add_argument("--tenant", help="only this tenant's schedules")
        parser.add_argument("--json", action="store_true", help="a JSON array instead of a table")

    def handle(self, *args: Any, **options: Any) -> None:
        now = timezone.now()
        found = rows.schedule_rows(now=now, due_only=options["due"], tenant=options["tenant"])
        if options["json"]:
            self.stdout.write(rows.render_json(found))
            return
        if not found:
            self.stdout.write("no schedules" + (" due" if options["due"] else ""))
            return
        for line in rows.render_table(found, now=now):
            self.stdout.write(line)
