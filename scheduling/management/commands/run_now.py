"""``manage.py run_now NAME``: run a schedule now, through the same path as the beat."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from orchestrator.models import RunTrigger
from scheduling.models import Schedule
from scheduling.surfaces.actions import run_now


class Command(BaseCommand):
    help = "Create and publish a run of the named schedule now (trigger: manual)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="the schedule's name")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            schedule = Schedule.objects.select_related("job", "directive").get(name=options["name"])
        except Schedule.DoesNotExist:
            raise CommandError(f"no schedule named {options['name']!r}") from None
        run = run_now(schedule, trigger=RunTrigger.MANUAL)
        note = "" if schedule.enabled else " (the schedule is disabled; running it on purpose)"
        self.stdout.write(f"run {run.id} of {schedule.name} queued on {schedule.job.queue}{note}")
