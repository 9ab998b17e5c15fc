"""``manage.py sync_schedules PATH``: make the schedules defined in YAML files match them, all or nothing."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import close_old_connections

from scheduling.surfaces.yaml_sync import Change, SyncError, SyncReport, fingerprint, sync

LABELS = {"create": "create", "update": "update", "unchanged": "unchanged", "prune": "prune"}


def _describe(change: Change) -> str:
    if change.action == "update":
        return "; ".join(f"{name}: {old!r} -> {new!r}" for name, old, new in change.fields)
    if change.action == "prune":
        return "deleted" if any(name == "deleted" for name, _, _ in change.fields) else "disabled"
    return ""


class Command(BaseCommand):
    help = (
        "Create, update (and with --prune disable or delete) schedules from YAML files: a file, or a folder of "
        "*.yaml. One transaction: one bad entry means nothing is applied."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", help="a YAML file, or a folder searched for *.yaml and *.yml")
        parser.add_argument(
            "--dry-run", action="store_true", help="validate and print what would change; write nothing"
        )
        parser.add_argument(
            "--prune",
            action="store_true",
            help="disable schedules an earlier sync of PATH made that are gone from its files "
            "(schedules made in the admin or the API are never pruned)",
        )
        parser.add_argument("--delete", action="store_true", help="with --prune: delete them instead of disabling")
        parser.add_argument(
            "--watch",
            type=float,
            metavar="SECONDS",
            help="keep running: sync again whenever the files change (looked at every SECONDS); a bad edit "
            "is reported and not applied, the schedules stay as they were",
        )
        parser.add_argument(
            "--adopt",
            action="store_true",
            help="let an entry take over a schedule of the same name made in the admin or the API",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["delete"] and not options["prune"]:
            raise CommandError("--delete only applies with --prune")
        verbosity = int(options["verbosity"])

        def progress(number: int, total: int, path: str, entries: int) -> None:
            if verbosity >= 1 and total > 1:
                self.stderr.write(f"[{number}/{total}] {path}: {entries} entr{'y' if entries == 1 else 'ies'}")

        def once() -> None:
            report = sync(
                Path(options["path"]),
                prune=options["prune"],
                delete=options["delete"],
                dry_run=options["dry_run"],
                adopt=options["adopt"],
                progress=progress,
            )
            self._print(report, verbosity)

        if options["watch"] is None:
            try:
                once()
            except SyncError as exc:
                raise CommandError(str(exc)) from exc
            return
        if options["watch"] <= 0 or options["dry_run"]:
            raise CommandError("--watch takes a positive number of seconds, and does not go with --dry-run")
        self._watch(Path(options["path"]), float(options["watch"]), once)

    def _watch(self, target: Path, interval: float, once: Any) -> None:
        stopping = False

        def stop(signum: int, frame: object) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        seen: tuple[tuple[str, int, int], ...] | None = None
        self.stdout.write(f"watching {target} (every {interval:g}s); Ctrl-C to stop")
        while not stopping:
            current = fingerprint(target)
            if current != seen:
                seen = current
                close_old_connections()
                try:
                    once()
                except SyncError as exc:
                    self.stderr.write(f"{exc}\nthe schedules stay as they were; waiting for the next change")
                self.stdout.flush()
            deadline = time.monotonic() + interval
            while not stopping and time.monotonic() < deadline:
                time.sleep(min(0.1, interval))

    def _print(self, report: SyncReport, verbosity: int) -> None:
        width = max((len(c.name) for c in report.changes), default=10)
        for change in report.changes:
            if change.action == "unchanged" and verbosity < 2 and not report.dry_run:
                continue
            verb = LABELS[change.action] if not report.dry_run else f"would {LABELS[change.action]}"
            if change.action == "unchanged":
                verb = "unchanged"
            detail = _describe(change)
            self.stdout.write(f"{verb:<16} {change.name:<{width}}  {change.path}" + (f"  ({detail})" if detail else ""))
        counts = (
            f"{report.count('create')} created, {report.count('update')} updated, "
            f"{report.count('unchanged')} unchanged, {report.count('prune')} pruned"
        )
        files = f"{len(report.files)} file{'s' if len(report.files) != 1 else ''}"
        if report.dry_run:
            self.stdout.write(f"dry run, nothing written: would be {counts} ({files})")
        elif not report.changed:
            self.stdout.write(f"nothing to change: {report.count('unchanged')} schedule(s) already match ({files})")
        else:
            self.stdout.write(f"{counts} ({files})")
