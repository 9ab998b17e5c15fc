"""``manage.py resume NAME``: resume a paused schedule (recorded as resumed by ``cli``)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from orchestrator import audit
from scheduling.management.commands.pause import find
from scheduling.surfaces import control_state, pausing, rows


class Command(BaseCommand):
    help = (
        "Resume a paused schedule. Occurrences that fell due while it was paused follow its misfire policy "
        "(run once, run all, or recorded missed)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="the schedule's name")

    def handle(self, *args: Any, **options: Any) -> None:
        with audit.acting(audit.CLI, audit.CLI):
            self._handle(**options)

    def _handle(self, **options: Any) -> None:
        schedule = find(options["name"])
        if not schedule.paused:
            raise CommandError(
                f"schedule {schedule.name!r} is {control_state.state(schedule)}, not paused; nothing to resume"
                + ("" if schedule.enabled else " (enable it in the admin, the API or its YAML file)")
            )
        note = schedule.pause_note
        if not pausing.resume([schedule.pk], by=pausing.CLI, now=timezone.now()):
            raise CommandError(f"schedule {schedule.name!r} was resumed meanwhile")
        schedule.refresh_from_db()
        next_run = rows.iso(schedule.next_run_at) or "none (the schedule has ended)"
        self.stdout.write(f"{schedule.name}: resumed (the pause's note was: {note}); next run {next_run}")
