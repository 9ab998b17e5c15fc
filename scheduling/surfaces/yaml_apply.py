"""Applying read entries to the schedules table: references, a plan per entry, validation, the writes, pruning.

The cost follows the number of entries with a handful of statements in all, not a few per entry:
jobs, directives and the existing rows are read in one query each; every entry's values are
cleaned by the shared input (``schedule_input``, as at every door; the whole entry is the truth,
so a field left out takes its default); every changed entry is validated as the model validates
it (``bulk.full_clean``: the same errors, without a query per row) and written with the others
(``bulk.save_all``: the same rows and next runs as ``Schedule.save``). An entry that matches its
row is neither validated nor written, as before.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Field

from orchestrator import constraints
from orchestrator.errors import ConstraintError, ValidationError
from orchestrator.models import Directive, Job
from scheduling.models import Calendar, Schedule, ScheduleSource
from scheduling.surfaces import bulk, calendar_input, schedule_input, yaml_pauses
from scheduling.surfaces.yaml_read import SCHEDULE_FIELDS, Entry
from scheduling.surfaces.yaml_report import Action, Change, Problem


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


def resolve(entries: Sequence[Entry]) -> schedule_input.References:
    """The jobs and directives the entries name, read in one query each (unknown ones are refused per entry)."""
    return schedule_input.References.read(
        (entry.values.get("job") for entry in entries),
        (entry.values.get("directive") for entry in entries),
        (
            name
            for entry in entries
            if isinstance(entry.values.get("calendars"), list)
            for name in entry.values["calendars"]
        ),
    )


def _collect(found: list[tuple[str, str]]) -> Callable[[str, str], None]:
    return lambda key, message: found.append((key, message))


def _defaults() -> dict[str, Any]:
    defaults: dict[str, Any] = {}
    for name in SCHEDULE_FIELDS:
        model_field = Schedule._meta.get_field(name)
        defaults[name] = model_field.get_default() if isinstance(model_field, Field) else None
    defaults["calendars"] = []
    return defaults


def _current(row: Schedule, name: str) -> Any:
    """A row's value of a managed field; its calendars as their names (prefetched)."""
    return calendar_input.names(row) if name == "calendars" else getattr(row, name)


def _same(old: Any, new: Any) -> bool:
    if isinstance(old, Job | Directive) or isinstance(new, Job | Directive):
        return getattr(old, "pk", None) == getattr(new, "pk", None)
    return bool(_shown(old) == _shown(new))


def _shown(value: Any) -> Any:
    if isinstance(value, Job):
        return value.key
    if isinstance(value, Directive):
        return value.name
    if isinstance(value, list) and all(isinstance(item, Calendar) for item in value):
        return sorted(item.name for item in value)
    return value


def _validation_problems(entry: Entry, exc: DjangoValidationError) -> list[Problem]:
    """The shared input's and the model's errors, on the keys the entry used (``id`` for the name)."""
    problems = []
    for key, messages in exc.message_dict.items():
        target = entry.job_key_from if key == "job" else ("id" if key == "name" else key)
        for message in messages:
            if key == "job" and entry.job_key_from == "dag" and message.startswith("unknown job"):
                message = message.replace("; jobs", f" (from dag: {entry.values['params'].get('dag')}); jobs", 1)
            problems.append(_problem(entry, "entry" if target == "__all__" else target, message))
    return problems


def apply(
    entries: Sequence[Entry],
    references: schedule_input.References,
    *,
    adopt: bool,
    now: datetime,
    dry_run: bool = False,
) -> tuple[list[Change], list[Problem]]:
    """Create or update a schedule per entry (inside the caller's transaction); nothing is written on a problem.

    Returns the change for each entry, in entry order, or the problems found. Each existing row is
    locked (``FOR UPDATE``) for the rest of the transaction.
    """
    defaults = _defaults()
    existing = {
        row.name: row
        for row in Schedule.objects.select_for_update(of=("self",))
        .select_related("job", "directive")
        .prefetch_related("calendars")
        .filter(name__in=[e.name for e in entries])
    }
    changes: list[Change] = []
    problems: list[Problem] = []
    writes: list[Schedule] = []
    intents: list[yaml_pauses.Intent] = []
    for entry in entries:
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
        try:
            values = schedule_input.clean(
                {"name": entry.name, **entry.values},
                instance=row,
                now=now,
                unique_name=False,
                whole=True,
                references=references,
            )
        except ValidationError as exc:
            problems += _validation_problems(entry, exc)
            continue
        values.pop("name")
        wanted = {**defaults, **values}
        pause_problems: list[tuple[str, str]] = []
        intent, pause_change = yaml_pauses.plan(entry, row, wanted, now=now, fail=_collect(pause_problems))
        if pause_problems:
            problems += [_problem(entry, key, message) for key, message in pause_problems]
            continue
        if intent is not None:
            intents.append(intent)
        changed: list[tuple[str, Any, Any]] = [pause_change] if pause_change is not None else []
        if row is not None:
            changed += [
                (name, _shown(_current(row, name)), _shown(value))
                for name, value in wanted.items()
                if not _same(_current(row, name), value)
            ]
            for origin_field, origin_value in (("source", ScheduleSource.YAML.value), ("source_path", entry.path)):
                if getattr(row, origin_field) != origin_value:
                    changed.append((origin_field, getattr(row, origin_field), origin_value))
            if not changed:
                changes.append(Change(action="unchanged", name=entry.name, path=entry.path))
                continue
        candidate = Schedule(name=entry.name) if row is None else row
        calendar_input.remember(candidate, wanted.pop("calendars"))
        for name, value in wanted.items():
            setattr(candidate, name, value)
        candidate.source = ScheduleSource.YAML
        candidate.source_path = entry.path
        try:
            bulk.full_clean(candidate, existing_references=("job", "directive"))
        except DjangoValidationError as exc:
            problems += _validation_problems(entry, exc)
            continue
        writes.append(candidate)
        action: Action = "create" if row is None else "update"
        changes.append(Change(action=action, name=entry.name, path=entry.path, fields=tuple(changed)))
    if not problems:
        try:
            with constraints.enforced():
                bulk.save_all(writes, now=now, cleaned=True)
        except ConstraintError as exc:  # e.g. a name another door took since the rows were read
            created = {change.name for change in changes if change.action == "create"}
            problems += _refused([entry for entry in entries if entry.name in created] or list(entries), exc)
    if not problems:
        _attach_calendars(writes, existing)
        ids = {row.name: row.pk for row in [*existing.values(), *writes]}
        yaml_pauses.carry_out(intents, ids, now=now, act=not dry_run)
    return changes, problems


def _attach_calendars(writes: Sequence[Schedule], existing: dict[str, Schedule]) -> None:
    """Set the written schedules' calendars where they changed (a new schedule without any: nothing)."""
    for candidate in writes:
        given = calendar_input.given(candidate)
        if given is None:
            continue
        old = calendar_input.names(existing[candidate.name]) if candidate.name in existing else []
        if sorted(c.name for c in given) != old:
            calendar_input.attach(candidate)


def _refused(entries: Sequence[Entry], refusal: ConstraintError) -> list[Problem]:
    """The database's refusal of the writes, on the entries it concerns (a name taken meanwhile: the new
    entries whose name now has a row; otherwise the first entry, with the refusal's words)."""
    if "name" in refusal.errors:
        taken = set(Schedule.objects.filter(name__in=[e.name for e in entries]).values_list("name", flat=True))
        concerned = [entry for entry in entries if entry.name in taken]
        if concerned:
            return [_problem(entry, "id", message) for entry in concerned for message in refusal.errors["name"]]
    return _validation_problems(entries[0], refusal)


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
    if delete:
        Schedule.objects.filter(pk__in=[row.pk for row in gone]).delete()
        return [_pruned(row, ("deleted", False, True)) for row in gone]
    enabled = [row for row in gone if row.enabled]
    Schedule.objects.filter(pk__in=[row.pk for row in enabled]).set_enabled(False, now=now)
    return [_pruned(row, ("enabled", True, False)) for row in enabled]


def _pruned(row: Schedule, change: tuple[str, Any, Any]) -> Change:
    return Change(action="prune", name=row.name, path=row.source_path, fields=(change,))
