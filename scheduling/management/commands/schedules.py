"""``manage.py schedules``: every schedule with its next run, last status, policy and controls;
``manage.py schedules set NAME [--remaining-runs N|none] [--pause-after-failures N|0|none]
[--deadline-seconds N|none] [--calendars a,b|none]``: set a schedule's controls."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from orchestrator.errors import RowDeletedError, ValidationError
from scheduling.models import Schedule
from scheduling.surfaces import control_cli, rows
from scheduling.surfaces.input_checks import unstorable


class Command(BaseCommand):
    help = (
        "List schedules: job, timing, state, next run, last status, overlap and misfire policy, runs left, "
        "failure streak (of the limit it pauses at), deadline, calendars, overdue occurrences, pause. "
        "'schedules set NAME ...' sets a schedule's controls."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--due", action="store_true", help="only enabled schedules due now")
        parser.add_argument("--tenant", help="only this tenant's schedules")
        parser.add_argument("--json", action="store_true", help="a JSON array instead of a table")
        actions = parser.add_subparsers(dest="action", required=False, title="actions")
        setter = actions.add_parser(
            "set",
            help="set a schedule's controls (validated as at every door; recorded in its audit trail as cli)",
            description="Set the named schedule's controls; an option left out is left as it is. 'none' empties "
            "one: unlimited runs, never pausing by itself, no deadline, no calendars.",
        )
        setter.add_argument("name", help="the schedule's name")
        setter.add_argument(
            "--remaining-runs", help="occurrences still to dispatch (each takes one; 0: no more), or none: unlimited"
        )
        setter.add_argument(
            "--pause-after-failures",
            help="pause by itself after this many consecutive failed or timed-out runs; 0 or none: never",
        )
        setter.add_argument(
            "--deadline-seconds", help="a run not finished this long after its scheduled time is overdue; or none"
        )
        setter.add_argument("--calendars", help="exclusion calendars by name, comma-separated (a,b), or none")

    def handle(self, *args: Any, **options: Any) -> None:
        if options.get("action") == "set":
            self._set(options)
            return
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

    def _set(self, options: dict[str, Any]) -> None:
        name = options["name"]
        if unstorable(name):
            raise CommandError(f"NAME: {unstorable(name)}")
        raw = control_cli.raw_input({field: options.get(field) for field in control_cli.OPTIONS})
        if not raw:
            raise CommandError(f"give at least one of {', '.join(control_cli.OPTIONS.values())}")
        try:
            schedule = Schedule.objects.select_related("job", "directive").get(name=name)
        except Schedule.DoesNotExist:
            raise CommandError(f"no schedule named {name!r}") from None
        try:
            changed = control_cli.set_controls(schedule, raw, now=timezone.now())
        except ValidationError as exc:  # a ConstraintError too: keyed by field
            raise CommandError(control_cli.option_errors(exc)) from None
        except RowDeletedError:
            raise CommandError(f"schedule {name!r} was deleted meanwhile") from None
        if not changed:
            self.stdout.write(f"{name}: nothing changed")
            return
        self.stdout.write(f"{name}: " + "; ".join(f"{field} {old} -> {new}" for field, old, new in changed))
