"""``manage.py backfill NAME --from ISO --to ISO [--overlap buffer_all|allow] [--dry-run]``.

Records a backfill of the schedule's fire times in ``[--from, --to)`` (the beats create them in
batches), or with ``--dry-run`` lists them and writes nothing. Bad input exits non-zero with the
option named.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from orchestrator import audit
from orchestrator.errors import ValidationError
from scheduling.engine import backfills
from scheduling.models import Schedule

#: The engine's field names as this command's options.
OPTIONS = {"start": "--from", "end": "--to", "overlap_policy": "--overlap"}
SHOWN = 20


def _moment(option: str, text: str) -> datetime:
    try:
        parsed = parse_datetime(text.strip()) if len(text) <= 64 else None
    except ValueError as exc:  # well-formed but impossible: minute 99
        raise CommandError(f"{option}: {text!r} is not a valid date and time: {exc}") from exc
    if parsed is None:
        raise CommandError(f"{option}: {text!r} is not a date and time in ISO 8601, e.g. 2026-01-01T00:00:00Z")
    if parsed.tzinfo is None:
        raise CommandError(f"{option}: give a time zone (e.g. a trailing Z for UTC, or +02:00)")
    return parsed


class Command(BaseCommand):
    help = (
        "Create every fire time of the named schedule in [--from, --to) that has no occurrence yet "
        "(trigger backfill; the beats create them in batches). Default: one run after another."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="the schedule's name")
        parser.add_argument("--from", dest="start", required=True, help="start of the range (included), ISO 8601")
        parser.add_argument("--to", dest="end", required=True, help="end of the range (excluded), ISO 8601")
        parser.add_argument(
            "--overlap",
            dest="overlap_policy",
            choices=backfills.POLICIES,
            default=backfills.POLICIES[0],
            help="buffer_all (default): one run after another; allow: all at once (limits still apply)",
        )
        parser.add_argument("--dry-run", action="store_true", help="list the fire times; write nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        with audit.acting(audit.CLI, audit.CLI):
            self._handle(**options)

    def _handle(self, **options: Any) -> None:
        try:
            schedule = Schedule.objects.select_related("job").get(name=options["name"])
        except Schedule.DoesNotExist:
            raise CommandError(f"no schedule named {options['name']!r}") from None
        start, end = _moment("--from", options["start"]), _moment("--to", options["end"])
        policy, now = options["overlap_policy"], timezone.now()
        try:
            if options["dry_run"]:
                self._preview(schedule, start, end, backfills.dry_run(
                    schedule, start=start, end=end, overlap_policy=policy, now=now))  # fmt: skip
                return
            backfill = backfills.request(schedule, start=start, end=end, overlap_policy=policy, by="cli", now=now)
        except ValidationError as exc:
            named = (f"{OPTIONS.get(field, field)}: {' '.join(messages)}" for field, messages in exc.errors.items())
            raise CommandError("; ".join(named)) from None
        self.stdout.write(
            f"backfill {backfill.pk} of {schedule.name}: {backfill.count} fire time(s) in "
            f"[{start.isoformat()}, {end.isoformat()}), {policy}; the beats create them in batches"
        )

    def _preview(self, schedule: Schedule, start: datetime, end: datetime, preview: backfills.Preview) -> None:
        self.stdout.write(
            f"dry run: {preview.count} fire time(s) of {schedule.name} in [{start.isoformat()}, {end.isoformat()}), "
            f"{preview.existing} with an occurrence already; nothing written"
        )
        for item in preview.fire_times[:SHOWN]:
            note = f"  excluded by {item.excluded}" if item.excluded else ""
            self.stdout.write(f"  {item.at.isoformat()}{note}")
        if len(preview.fire_times) > SHOWN:
            self.stdout.write(f"  ... and {preview.count - preview.existing - SHOWN} more")
