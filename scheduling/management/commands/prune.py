"""``manage.py prune --older-than 30d [--dry-run] [--keep N]``: retention for runs, artifacts and the event log."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from orchestrator import events, retention
from orchestrator.errors import ValidationError
from scheduling.ops import retention as schedule_retention


def _size(size_bytes: int) -> str:
    value = float(size_bytes)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


class Command(BaseCommand):
    help = (
        "Delete finished runs older than --older-than with their artifacts, token counts and old occurrence rows, "
        "in batches, keeping the newest --keep runs of every schedule; rotate the event log past EVENTS_MAX_BYTES."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than", required=True, help="age such as 30d, 12h, 2w (runs created before now-age)"
        )
        parser.add_argument("--dry-run", action="store_true", help="count what would go; change nothing")
        parser.add_argument("--keep", type=int, default=10, help="newest runs of each schedule to keep (default 10)")
        parser.add_argument("--batch-size", type=int, default=2000, help="runs deleted per statement (default 2000)")
        parser.add_argument(
            "--events-max-bytes",
            type=int,
            default=None,
            help="rotate the event log past this size (default EVENTS_MAX_BYTES)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            age = retention.parse_age(options["older_than"])
        except ValidationError as exc:
            raise CommandError(str(exc)) from exc
        if options["keep"] < 0:
            raise CommandError("--keep must be 0 or more")
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1")
        dry_run: bool = options["dry_run"]
        cutoff = timezone.now() - age
        report = retention.prune_runs(
            older_than=cutoff,
            dry_run=dry_run,
            batch_size=options["batch_size"],
            policy=schedule_retention.policy(options["keep"]),
        )
        occurrences = report.related_rows + schedule_retention.prune_occurrences(older_than=cutoff, dry_run=dry_run)
        rotation = retention.rotate_event_log(
            events.default_path(),
            max_bytes=options["events_max_bytes"] or settings.EVENTS_MAX_BYTES,
            keep_files=settings.EVENTS_KEEP_FILES,
            dry_run=dry_run,
        )

        verb = "would delete" if dry_run else "deleted"
        out = self.stdout.write
        out(
            f"prune{' (dry run)' if dry_run else ''}: finished runs created before {events.utc_stamp(cutoff)} "
            f"(older than {options['older_than']}), keeping the newest {options['keep']} of each schedule"
        )
        out(f"  runs:        {verb} {report.runs} in {report.batches} batch(es); kept {report.kept} as the newest")
        out(
            f"  artifacts:   {verb} {report.artifacts} file(s), {_size(report.artifact_bytes)}, "
            f"in {report.folders} run folder(s)"
        )
        out(f"  token rows:  {verb} {report.llm_calls} LLM call record(s)")
        out(f"  occurrences: {verb} {occurrences} (of pruned runs, or skipped or missed)")
        out(f"  orphans:     {verb} {report.orphan_folders} artifact folder(s) with no run")
        if rotation.rotated:
            action = "would rotate" if dry_run else "rotated"
            out(
                f"  event log:   {action} {rotation.path} ({_size(rotation.size_bytes)} > {_size(rotation.max_bytes)}) "
                f"to {rotation.path.name}.1, keeping {rotation.kept_files} rotated file(s)"
            )
        else:
            out(f"  event log:   {_size(rotation.size_bytes)}, under {_size(rotation.max_bytes)}; not rotated")
        if dry_run:
            out("dry run: nothing was changed")
