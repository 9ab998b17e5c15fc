"""``manage.py calendars [list] [--json]``, ``calendars set NAME [--timezone ZONE] [--date YYYY-MM-DD ...]
[--cron EXPR ...] [--description TEXT]``, ``calendars delete NAME``: exclusion calendars from the command line."""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from orchestrator.errors import ValidationError
from scheduling.surfaces import calendar_cli


class Command(BaseCommand):
    help = (
        "Exclusion calendars: list them (a table, or --json), create or change one by name (set), delete one "
        "(delete: it is detached from its schedules). Validated as at every door; recorded as cli."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=False, title="actions")
        listing = actions.add_parser("list", help="every calendar (the default)")
        # SUPPRESS: ``calendars --json list`` keeps the --json given before the action
        listing.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="a JSON array")
        parser.add_argument("--json", action="store_true", help="a JSON array instead of a table")
        setter = actions.add_parser(
            "set",
            help="create a calendar, or change the fields given",
            description="Create the calendar NAME, or change the fields given (the others keep their values).",
        )
        setter.add_argument("name", help="the calendar's name")
        setter.add_argument("--timezone", help="IANA time zone the dates and crons are read in (new: UTC)")
        setter.add_argument(
            "--date",
            dest="dates",
            action="append",
            help="a whole local day excluded, YYYY-MM-DD; repeat for more; replaces the dates (none: no dates)",
        )
        setter.add_argument(
            "--cron",
            dest="crons",
            action="append",
            help='a cron expression whose fire times are excluded, e.g. "* * * * 6,0" for weekends; repeat for '
            "more; replaces the crons (none: no crons)",
        )
        setter.add_argument("--description", help="what the calendar is for")
        deleter = actions.add_parser("delete", help="delete a calendar (it is detached from its schedules)")
        deleter.add_argument("name", help="the calendar's name")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options.get("action") or "list"
        try:
            if action == "set":
                self._set(options)
            elif action == "delete":
                self._delete(options["name"])
            else:
                self._list(as_json=bool(options.get("json")))
        except ValidationError as exc:  # a ConstraintError too: keyed by field
            raise CommandError(calendar_cli.option_errors(exc)) from None

    def _list(self, *, as_json: bool) -> None:
        rows = calendar_cli.calendars()
        if as_json:
            self.stdout.write(calendar_cli.as_json(rows))
        elif not rows:
            self.stdout.write("no calendars")
        else:
            for line in calendar_cli.table(rows):
                self.stdout.write(line)

    def _set(self, options: dict[str, Any]) -> None:
        given = calendar_cli.given_fields(
            description=options.get("description"),
            timezone=options.get("timezone"),
            dates=options.get("dates"),
            crons=options.get("crons"),
        )
        done, changes = calendar_cli.set_calendar(options["name"], given)
        name = options["name"].strip()
        if done == "unchanged":
            self.stdout.write(f"calendar {name}: nothing changed")
            return
        shown = "; ".join(f"{field} {before!r} -> {after!r}" for field, before, after in changes)
        self.stdout.write(f"{done} calendar {name}" + (f": {shown}" if shown else ""))

    def _delete(self, name: str) -> None:
        schedules = calendar_cli.delete_calendar(name)
        if schedules is None:
            raise CommandError(f"no calendar named {name!r}")
        attached = f"detached from {', '.join(schedules)}" if schedules else "no schedule used it"
        self.stdout.write(f"deleted calendar {name.strip()} ({attached})")
