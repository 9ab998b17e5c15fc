"""``manage.py import_celery_beat [--dry-run] [--disable-source]``: django-celery-beat's PeriodicTasks as schedules."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from orchestrator.errors import ConstraintError
from scheduling.surfaces.imports.celery_beat import ImportReport, SourceMissing, run_import


class Command(BaseCommand):
    help = (
        "Create or update one schedule per django-celery-beat PeriodicTask (source celery_beat, named after it), "
        "read from its tables in this database; each row's outcome is printed: created, updated, unchanged, or "
        "skipped with the reason. One transaction; running it again changes only what changed there."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="validate and print the outcomes; write nothing")
        parser.add_argument(
            "--disable-source",
            action="store_true",
            help="in the same transaction, disable the imported PeriodicTasks in django-celery-beat (and tell its "
            "running beat), so they run here only; skipped ones stay enabled there",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            report = run_import(dry_run=options["dry_run"], disable_source=options["disable_source"])
        except (SourceMissing, ConstraintError) as exc:
            raise CommandError(str(exc)) from exc
        self._print(report, disable_source=options["disable_source"])

    def _print(self, report: ImportReport, *, disable_source: bool) -> None:
        for line in report.lines():
            self.stdout.write(line)
        if not report.outcomes:
            self.stdout.write("django-celery-beat has no PeriodicTasks: nothing to import")
        skipped = report.count("skipped")
        if disable_source:
            verb = "would be disabled" if report.dry_run else "disabled"
            kept = f"; the {skipped} skipped stay enabled there" if skipped else ""
            self.stdout.write(f"django-celery-beat: {report.disabled_sources} PeriodicTask(s) {verb}{kept}")
        elif report.still_enabled_sources:
            self.stdout.write(
                f"note: {report.still_enabled_sources} imported schedule(s) are enabled here while their PeriodicTask "
                "is still enabled in django-celery-beat: while its beat runs, each would run twice. Stop that beat, "
                "or run again with --disable-source to hand them over"
            )
