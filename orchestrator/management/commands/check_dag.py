"""``manage.py check_dag PATH...``: validate DAG files as a schedule would, and print their order."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from orchestrator import dag
from orchestrator.errors import ValidationError
from orchestrator.jobs.dag import load


class Command(BaseCommand):
    help = "Validate DAG files (inside DAG_ROOTS, against the registered jobs) and print each one's step order."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+", help="DAG files, relative to the project root or absolute")

    def handle(self, *args: Any, **options: Any) -> None:
        failed = 0
        for path in options["paths"]:
            try:
                parsed = load(path)
            except ValidationError as exc:
                failed += 1
                for messages in exc.errors.values():
                    for message in messages:
                        self.stderr.write(f"error: {message}")
                continue
            self.stdout.write("\n".join(dag.describe(parsed)))
        if failed:
            raise CommandError(f"{failed} of {len(options['paths'])} DAG file(s) are invalid")
