"""``manage.py pause NAME [--note TEXT] [--until ISO]``: pause a schedule (``paused_by`` is ``cli``)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from orchestrator import audit
from orchestrator.errors import ValidationError
from scheduling.models import Schedule
from scheduling.surfaces import control_state, pause_input, pausing
from scheduling.surfaces.control_form import MISFIRE_ON_RESUME

#: The note of a pause asked for without ``--note`` (a pause always says something about itself).
DEFAULT_NOTE = "paused with manage.py pause (no note given)"
#: Which option each of the service's fields came from, for the error.
_OPTIONS = {"note": "--note", "resume_at": "--until"}


class Command(BaseCommand):
    help = "Pause an enabled schedule with a note, until a time or until resumed. " + MISFIRE_ON_RESUME

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="the schedule's name")
        parser.add_argument("--note", default=None, help="why it is paused (shown wherever the schedule is)")
        parser.add_argument(
            "--until",
            default=None,
            help="resume by itself at this time: ISO 8601, e.g. 2026-12-24T08:00:00Z (without an offset: in the "
            "schedule's zone)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        with audit.acting(audit.CLI, audit.CLI):
            self._handle(**options)

    def _handle(self, **options: Any) -> None:
        schedule = find(options["name"])
        now = timezone.now()
        try:
            note = pause_input.note(options["note"] if options["note"] is not None else DEFAULT_NOTE, field="--note")
            until = pause_input.until(options["until"], schedule.timezone, field="--until")
            if not schedule.enabled:
                raise CommandError(f"schedule {schedule.name!r} is not enabled ({_state(schedule)}); nothing to pause")
            paused = pausing.pause([schedule.pk], note=note, by=pausing.CLI, until=until, now=now)
        except ValidationError as exc:
            raise CommandError(_option_errors(exc)) from None
        if not paused:
            schedule.refresh_from_db()
            raise CommandError(f"schedule {schedule.name!r} is not enabled ({_state(schedule)}); nothing to pause")
        schedule.refresh_from_db()
        self.stdout.write(f"{schedule.name}: {control_state.pause_text(schedule)}")


def find(name: str) -> Schedule:
    try:
        return Schedule.objects.get(name=name)
    except Schedule.DoesNotExist:
        raise CommandError(f"no schedule named {name!r}") from None


def _state(schedule: Schedule) -> str:
    return control_state.pause_text(schedule) or control_state.state(schedule)


def _option_errors(error: ValidationError) -> str:
    return "; ".join(
        f"{_OPTIONS.get(field, field)}: {message}" for field, messages in error.errors.items() for message in messages
    )
