"""Applying read entries to the schedules table: references, a plan per entry, validation, the writes, pruning."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Field

from orchestrator.models import Directive, Job
from scheduling.models import Schedule, ScheduleSource
from scheduling.yaml_read import SCHEDULE_FIELDS, Entry
from scheduling.yaml_report import Action, Change, Problem


@dataclass(frozen=True, kw_only=True)
class References:
    """The jobs (by key) and directives (by name) the entries name, as read from the database."""

    jobs: dict[str, Job]
    directives: dict[str, Directive]


def _problem(entry: Entry, field: str, message: str) -> Problem:
    return Problem(path=entry.path, line=entry.line, entry=entry.index, name=entry.name, field=field, message=message)


def duplicate_names(entries: Sequence[Entry]) -> list[Problem]:
    """An entry whose name an earlier entry (in any file) already took."""
    problems = []
    first_seen: dict[str, Entry] = {}
    for entry in entries:
        earlier = first_seen.setdefault(entry.name, entry)
        if earlier is not entry:
            problems.append(
                _problem(entry, "id", f"is also defined in {earlier.path}:{earlier.line}; schedule names are unique")
            )
    return problems


def resolve(entries: Sequence[Entry]) -> tuple[References, list[Problem]]:
    """The jobs and directives the entries name, and a problem for each one that does not exist."""
    jobs = {job.key: job for job in Job.objects.filter(key__in={e.values["job"] for e in entries})}
    directive_names = {e.values["directive"] for e in entries if e.values.get("directive")}
    directives = {d.name: d for d in Directive.objects.filter(name__in=directive_names).select_related("job")}
    problems: list[Problem] = []
    for entry in entries:
        key = entry.values["job"]
        if key not in jobs:
            known = ", ".join(Job.objects.order_by("key").values_list("key", flat=True)) or "(none)"
            via = f" (from dag: {entry.values['params'].get('dag')})" if entry.job_key_from == "dag" else ""
            problems.append(
                _problem(entry, entry.job_key_from, f"unknown job {key!r}{via}; jobs in this deployment: {known}")
            )
        wanted = entry.values.get("directive")
        if wanted and wanted not in directives:
            problems.append(_problem(entry, "directive", f"unknown directive {wanted!r}"))
    return References(jobs=jobs, directives=directives), problems


def _defaults() -> dict[str, Any]:
    defaults: dict[str, Any] = {}
    for name in SCHEDULE_FIELDS:
        model_field = Schedule._meta.get_field(name)
        defaults[name] = model_field.get_default() if isinstance(model_field, Field) else None
    return defaults


def _same(old: Any, new: Any) -> bool:
    if isinstance(old, Job | Directive) or isinstance(new, Job | Directive):
        return getattr(old, "pk", None) == getattr(new, "pk", None)
    return bool(old == new)


def _shown(value: Any) -> Any:
    if isinstance(value, Job):
        return value.key
    if isinstance(value, Directive):
        return value.name
    return value


def _validation_problems(entry: Entry, exc: DjangoValidationError) -> list[Problem]:
    problems = []
    for key, messages in exc.message_dict.items():
        target = entry.job_key_from if key == "job" else ("id" if key == "name" else key)
        for message in messages:
            problems.append(_problem(entry, "entry" if target == "__all__" else target, message))
    return problems


def apply(
    entries: Sequence[Entry], references: References, *, adopt: bool, now: datetime
) -> tuple[list[Change], list[Problem]]:
    """Create or update a schedule per entry (inside the caller's transaction, which a problem must roll back).

    Returns the change for each entry, in entry order, and the problems found. Each existing row is
    locked (``FOR UPDATE``) for the rest of the transaction.
    """
    defaults = _defaults()
    existing = {
        row.name: row for row in Schedule.objects.select_for_update().filter(name__in=[e.name for e in entries])
    }
    changes: list[Change] = []
    problems: list[Problem] = []
    for entry in entries:
        wanted = {**defaults, **entry.values}
        wanted["job"] = references.jobs[entry.values["job"]]
        wanted["directive"] = references.directives.get(entry.values.get("directive") or "")
        row = existing.get(entry.name)
        if row is not None and row.source != ScheduleSource.YAML and not adopt:
            problems.append(
                _problem(
                    entry,
                    "id",
                    f"a schedule with this name was made in the {row.get_source_display()}, not by a "
                    "sync; rename the entry, or run with --adopt to manage that schedule from YAML from now on",
                )
            )
            continue
        candidate = Schedule(name=entry.name) if row is None else copy.copy(row)
        changed = [
            (name, _shown(getattr(candidate, name)), _shown(value))
            for name, value in wanted.items()
            if row is not None and not _same(getattr(candidate, name), value)
        ]
        for origin_field, origin_value in (("source", ScheduleSource.YAML.value), ("source_path", entry.path)):
            if row is not None and getattr(row, origin_field) != origin_value:
                changed.append((origin_field, getattr(row, origin_field), origin_value))
        if row is not None and not changed:
            changes.append(Change(action="unchanged", name=entry.name, path=entry.path))
            continue
        for name, value in wanted.items():
            setattr(candidate, name, value)
        candidate.source = ScheduleSource.YAML
        candidate.source_path = entry.path
        try:
            candidate.full_clean(validate_unique=False)
        except DjangoValidationError as exc:
            problems += _validation_problems(entry, exc)
            continue
        candidate.save(now=now)
        action: Action = "create" if row is None else "update"
        changes.append(Change(action=action, name=entry.name, path=entry.path, fields=tuple(changed)))
    return changes, problems


def _in_scope(source_path: str, scope: str) -> bool:
    return source_path == scope or source_path.startswith(scope.rstrip("/") + "/")


def prune(kept: Sequence[Entry], scope: str, *, delete: bool, now: datetime) -> list[Change]:
    """Disable (``delete``: delete) the YAML-made schedules recorded from ``scope`` that no entry keeps."""
    gone = [
        row
        for row in Schedule.objects.select_for_update()
        .filter(source=ScheduleSource.YAML)
        .exclude(name__in={entry.name for entry in kept})
        .order_by("name")
        if _in_scope(row.source_path, scope)
    ]
    changes = []
    for row in gone:
        if delete:
            row.delete()
            changes.append(_pruned(row, ("deleted", False, True)))
        elif row.enabled:
            Schedule.objects.filter(pk=row.pk).set_enabled(False, now=now)
            changes.append(_pruned(row, ("enabled", True, False)))
    return changes


def _pruned(row: Schedule, change: tuple[str, Any, Any]) -> Change:
    return Change(action="prune", name=row.name, path=row.source_path, fields=(change,))
