"""Schedules as code: YAML files in, schedules (``source="yaml"``) out, in one transaction.

A file is a list of entries (or a mapping with ``schedules:``, that list, and ``calendars:``, the
exclusion calendars it defines: ``yaml_calendars``, and ``notifications:``, the notification rules:
``yaml_notifications``; ``paused:`` on an entry: ``yaml_pauses``).
Two spellings of an entry are accepted:

* the seed format: ``id`` (the schedule's name), ``cron``, ``dag``, ``tenant``, ``enabled``;
  ``dag: configs/dags/x.yaml`` runs the job ``dag`` with params ``{"dag": "configs/dags/x.yaml"}``;
* the full format: ``name`` (or ``id``) and any Schedule field: ``job``, ``directive`` (by name),
  ``params``, ``kind`` (inferred from ``cron`` / ``interval_seconds`` / ``run_at`` when left out),
  the timing fields, the policies, ``max_concurrency``, ``jitter_seconds``, ``tenant``, ...

The files are the whole truth for the schedules they define: a field left out takes the model's
default. Every entry is validated by the model (``full_clean``, the admin's validation); one bad
entry, anywhere, means nothing is applied, and every error names the file (and line), the entry
and the field. A schedule created elsewhere (admin, API) is never changed by a sync unless it is
adopted on purpose, and never pruned.

The work is split by concern: ``yaml_load`` reads a file's YAML safely, ``yaml_read`` turns it
into entries, ``yaml_apply`` validates and writes them, ``yaml_report`` holds what a sync says
back. This module runs them in order and keeps the names callers import.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from orchestrator import audit
from scheduling.surfaces import yaml_apply, yaml_calendars, yaml_notifications
from scheduling.surfaces.yaml_load import MAX_ALIAS_VALUES, MAX_FILE_BYTES
from scheduling.surfaces.yaml_read import (
    DAG_JOB,
    DATETIME_FIELDS,
    ENTRY_KEYS,
    MANAGED_FIELDS,
    SCHEDULE_FIELDS,
    Entry,
    display_path,
    find_files,
    fingerprint,
    read_file,
)
from scheduling.surfaces.yaml_report import Action, Change, Problem, Progress, SyncError, SyncReport

__all__ = [
    "DAG_JOB",
    "DATETIME_FIELDS",
    "ENTRY_KEYS",
    "MANAGED_FIELDS",
    "MAX_ALIAS_VALUES",
    "MAX_FILE_BYTES",
    "SCHEDULE_FIELDS",
    "Action",
    "Change",
    "Entry",
    "Problem",
    "Progress",
    "SyncError",
    "SyncReport",
    "display_path",
    "find_files",
    "fingerprint",
    "read_file",
    "sync",
]


def sync(
    target: Path,
    *,
    prune: bool = False,
    delete: bool = False,
    dry_run: bool = False,
    adopt: bool = False,
    now: datetime | None = None,
    progress: Progress | None = None,
) -> SyncReport:
    """Make the schedules defined in ``target`` (a file or a folder) match it, all or nothing.

    ``prune`` disables (``delete``: deletes) YAML-made schedules recorded from ``target`` that are
    gone from its files; admin- and API-made schedules are never pruned. ``adopt`` lets an entry
    take over a schedule of the same name made elsewhere (otherwise that is an error). With
    ``dry_run`` everything is validated, computed and written, then rolled back. Raises ``SyncError``.
    """
    now = now or timezone.now()
    files = find_files(target)
    report = SyncReport(dry_run=dry_run)
    entries: list[Entry] = []
    calendars: list[yaml_calendars.CalendarEntry] = []
    rules: list[yaml_notifications.RuleEntry] = []
    problems: list[Problem] = []
    for number, path in enumerate(files, start=1):
        shown = display_path(path)
        report.files.append(shown)
        found, file_problems = read_file(path, shown, calendars=calendars, rules=rules)
        entries += found
        problems += file_problems
        if progress is not None:
            progress(number, len(files), shown, len(found))
    problems += yaml_apply.duplicate_names(entries) + yaml_calendars.duplicate_names(calendars)
    problems += yaml_notifications.duplicate_names(rules)
    if problems:
        raise SyncError(problems)

    shown_target = display_path(target)
    with (
        transaction.atomic(),
        audit.acting(lambda row: f"yaml:{getattr(row, 'source_path', '') or shown_target}", audit.YAML),
    ):
        calendar_changes, problems = yaml_calendars.apply(calendars)  # first: the schedules may name them
        if problems:
            raise SyncError(problems)
        references = yaml_apply.resolve(entries)
        changes, problems = yaml_apply.apply(entries, references, adopt=adopt, now=now, dry_run=dry_run)
        if problems:
            raise SyncError(problems)
        rule_changes, problems = yaml_notifications.apply(rules)  # last: a rule may name a schedule made here
        if problems:
            raise SyncError(problems)
        report.changes += calendar_changes + changes + rule_changes
        if prune:
            report.changes += yaml_apply.prune(entries, display_path(target), delete=delete, now=now)
        if dry_run:
            transaction.set_rollback(True)
    return report
