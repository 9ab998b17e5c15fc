"""Schedules as code: YAML files in, schedules (``source="yaml"``) out, in one transaction.

A file is a list of entries. Two spellings of an entry are accepted:

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
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.db.models import Field
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from orchestrator import constraints
from orchestrator.errors import SchedulerError
from orchestrator.models import Directive, Job
from scheduling.inputs import SURROGATE_MESSAGE, contains_nul, contains_surrogate, year_problem
from scheduling.models import Schedule, ScheduleSource

#: Schedule fields an entry may set (besides ``name``/``id``, ``job`` and ``dag``).
SCHEDULE_FIELDS = (
    "description",
    "directive",
    "params",
    "kind",
    "cron",
    "interval_seconds",
    "run_at",
    "timezone",
    "enabled",
    "start_at",
    "end_at",
    "overlap_policy",
    "misfire_policy",
    "misfire_grace_seconds",
    "max_concurrency",
    "jitter_seconds",
    "tenant",
)
#: Every field a synced schedule is made of: compared on each run, defaulted when left out.
MANAGED_FIELDS = ("job", *SCHEDULE_FIELDS)
ENTRY_KEYS = frozenset({"id", "name", "job", "dag", *SCHEDULE_FIELDS})
DATETIME_FIELDS = ("run_at", "start_at", "end_at")
DAG_JOB = "dag"
#: A schedules file larger than this is refused before it is parsed (1,000 entries take ~150 KB).
MAX_FILE_BYTES = 2 * 1024 * 1024
#: Values in one file, aliases expanded: bounds the work an alias bomb (``&a [*b, *b, ...]``) can cause.
MAX_NODES = 200_000

Action = Literal["create", "update", "unchanged", "prune"]


@dataclass(frozen=True, kw_only=True)
class Problem:
    """One reason a sync cannot be applied, located as precisely as the input allows."""

    path: str
    line: int | None
    entry: int | None
    name: str | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        if self.entry is not None:
            where += f": entry {self.entry}" + (f" ({self.name})" if self.name else "")
        return f"{where}: {self.field}: {self.message}"


class SyncError(SchedulerError):
    """The sync was not applied; ``problems`` lists every reason, each with file, entry and field."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        count = len(self.problems)
        super().__init__(
            "\n".join(str(p) for p in self.problems)
            + f"\nnothing was applied ({count} error{'s' if count != 1 else ''})"
        )


@dataclass(frozen=True, kw_only=True)
class Entry:
    path: str
    line: int
    index: int
    name: str
    #: Schedule field values; ``job`` and ``directive`` still as key and name.
    values: dict[str, Any]
    #: The key an entry used for its job (``job`` or ``dag``), for error messages.
    job_key_from: str = "job"


@dataclass(frozen=True, kw_only=True)
class Change:
    action: Action
    name: str
    path: str
    #: ``(field, old, new)`` for an update; for a prune, ``("enabled", True, False)`` or ``("deleted", ...)``.
    fields: tuple[tuple[str, Any, Any], ...] = ()


@dataclass(kw_only=True)
class SyncReport:
    dry_run: bool
    files: list[str] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)

    def count(self, action: Action) -> int:
        return sum(1 for change in self.changes if change.action == action)

    @property
    def changed(self) -> bool:
        return any(change.action != "unchanged" for change in self.changes)


Progress = Callable[[int, int, str, int], None]


# --- reading ---------------------------------------------------------------------------------------


def display_path(path: Path) -> str:
    """How a file is recorded in ``source_path``: relative to the project when inside it."""
    resolved = path.resolve()
    try:
        return str(resolved.relative_to(Path(settings.BASE_DIR).resolve()))
    except ValueError:
        return str(resolved)


def find_files(target: Path) -> list[Path]:
    """``target`` itself, or every ``*.yaml`` / ``*.yml`` below the folder, in a stable order."""
    if target.is_file():
        return [target]
    if target.is_dir():
        return sorted(p for p in target.rglob("*") if p.is_file() and p.suffix in (".yaml", ".yml"))
    raise SyncError([Problem(path=str(target), line=None, entry=None, name=None, field="path", message="not found")])


def fingerprint(target: Path) -> tuple[tuple[str, int, int], ...]:
    """What a watcher compares to see a change: each file's path, modification time and size."""
    try:
        files = find_files(target)
    except SyncError:
        return ()
    marks = []
    for path in files:
        try:
            status = path.stat()
        except FileNotFoundError:
            continue
        marks.append((str(path), status.st_mtime_ns, status.st_size))
    return tuple(marks)


def _duplicate_keys(node: yaml.MappingNode) -> list[tuple[str, int]]:
    seen: set[str] = set()
    duplicates = []
    for key_node, _ in node.value:
        key = str(key_node.value)
        if key in seen:
            duplicates.append((key, key_node.start_mark.line + 1))
        seen.add(key)
    return duplicates


def _expands_past(root: yaml.Node, limit: int) -> bool:
    """Whether the document has more than ``limit`` nodes with every alias expanded (an alias bomb)."""
    count = 0
    stack: list[yaml.Node] = [root]
    while stack:
        node = stack.pop()
        count += 1
        if count > limit:
            return True
        if isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                stack += (key, value)
    return False


def read_file(path: Path, shown: str) -> tuple[list[Entry], list[Problem]]:
    """The entries of one file (safe loading only), or the problems that stop it being read."""

    def problem(message: str, *, line: int | None = None, entry: int | None = None, key: str = "file") -> Problem:
        return Problem(path=shown, line=line, entry=entry, name=None, field=key, message=message)

    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            return [], [problem(f"is {size} bytes; the limit is {MAX_FILE_BYTES} bytes: split it into several files")]
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return [], [problem(f"cannot be read: {exc}")]
    try:
        loader = yaml.SafeLoader(text)  # reads the first characters: refuses control characters here
    except yaml.YAMLError as exc:
        return [], [problem(f"is not valid YAML: {exc}")]
    try:
        root = loader.get_single_node()
        if root is not None and _expands_past(root, MAX_NODES):
            return [], [problem(f"holds more than {MAX_NODES} values once its aliases are expanded; split it up")]
        data = loader.construct_document(root) if root is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        hint = ' (quote cron expressions: cron: "*/5 * * * *")' if "alias" in str(exc) else ""
        detail = str(getattr(exc, "problem", None) or exc)
        return [], [problem(f"is not valid YAML: {detail}{hint}", line=mark.line + 1 if mark else None)]
    except RecursionError:
        return [], [problem("is nested too deeply to be a schedules file")]
    finally:
        loader.dispose()
    if data is None:
        return [], []
    if not isinstance(data, list) or not isinstance(root, yaml.SequenceNode):
        return [], [problem("must be a list of schedule entries (- id: ...)", line=1)]
    entries: list[Entry] = []
    problems: list[Problem] = []
    for index, (raw, node) in enumerate(zip(data, root.value, strict=True), start=1):
        line = node.start_mark.line + 1
        if not isinstance(raw, dict) or not isinstance(node, yaml.MappingNode):
            problems.append(problem("must be a mapping of fields (id: ..., cron: ...)", line=line, entry=index))
            continue
        for key, key_line in _duplicate_keys(node):
            problems.append(problem("is given twice in this entry", line=key_line, entry=index, key=key))
        entry, entry_problems = _entry(raw, shown=shown, line=line, index=index)
        problems += entry_problems
        if entry is not None:
            entries.append(entry)
    return entries, problems


def _aware_datetime(value: Any) -> datetime | str:
    """A datetime with a time zone, or the message saying what is wrong with ``value``."""
    if isinstance(value, str):
        parsed = parse_datetime(value.strip())
        if parsed is None:
            return "must be an ISO 8601 date and time with a time zone, e.g. 2026-01-01T02:00:00+01:00"
        value = parsed
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            return "must include a time zone, e.g. 2026-01-01T02:00:00Z or +01:00"
        return year_problem(value.year) or value
    if isinstance(value, date):
        return "must be a date and time with a time zone, not a bare date"
    return "must be a date and time with a time zone"


def _key_name(key: Any) -> str:
    """A key as an error names it: as typed, or quoted when it is empty, blank or not a string."""
    return key if isinstance(key, str) and key.strip() and key == key.strip() else repr(key)


def _entry(raw: Mapping[Any, Any], *, shown: str, line: int, index: int) -> tuple[Entry | None, list[Problem]]:
    problems: list[Problem] = []
    name_value = raw.get("id", raw.get("name"))
    name = name_value if isinstance(name_value, str) else None

    def fail(key: str, message: str) -> None:
        problems.append(Problem(path=shown, line=line, entry=index, name=name, field=key, message=message))

    for key, value in raw.items():
        if contains_nul(value):
            fail(_key_name(key), "must not contain NUL (\\0) characters")
        elif contains_surrogate(value):  # "\ud800" in a double-quoted scalar: no character, unstorable
            fail(_key_name(key), SURROGATE_MESSAGE)
    if problems:
        return None, problems
    for key in raw:
        if str(key) not in ENTRY_KEYS:
            close = difflib.get_close_matches(str(key), sorted(ENTRY_KEYS), n=1)
            fail(
                _key_name(key),
                "unknown key"
                + (f"; did you mean {close[0]}?" if close else f"; keys: {', '.join(sorted(ENTRY_KEYS))}"),
            )
    if "id" in raw and "name" in raw and raw["id"] != raw["name"]:
        fail("id", "give id or name, not both")
    if not isinstance(name_value, str) or not name_value.strip():
        fail("id", "is required: the schedule's unique name (a non-empty string)")
    values: dict[str, Any] = {key: raw[key] for key in SCHEDULE_FIELDS if key in raw}
    job_from = "job"
    if "dag" in raw:
        dag = raw["dag"]
        if not isinstance(dag, str) or not dag.strip():
            fail("dag", "must be the path of a DAG file, e.g. configs/dags/nightly.yaml")
        if raw.get("job", DAG_JOB) != DAG_JOB:
            fail("dag", f"an entry with dag runs the job {DAG_JOB!r}; leave job out")
        params = values.get("params", {})
        values["params"] = {**params, "dag": dag} if isinstance(params, dict) else params
        values["job"] = DAG_JOB
        job_from = "dag"
    elif "job" in raw:
        values["job"] = raw["job"]
    else:
        fail("job", "is required (a job key such as noop), or give dag: <path of a DAG file>")
    if "job" in values and not isinstance(values["job"], str):
        fail("job", "must be a job key (a string)")
    if "directive" in values and values["directive"] is not None and not isinstance(values["directive"], str):
        fail("directive", "must be a directive's name (a string)")
    for key in DATETIME_FIELDS:
        if values.get(key) is not None:
            checked = _aware_datetime(values[key])
            if isinstance(checked, str):
                fail(key, checked)
            else:
                values[key] = checked
    for key in ("cron", "timezone", "description", "tenant"):
        if key in values and not isinstance(values[key], str):
            fail(key, "must be a string" + (' (quote it: cron: "0 2 * * *")' if key == "cron" else ""))
    if "kind" not in values:
        given = [key for key in ("cron", "interval_seconds", "run_at") if values.get(key) not in (None, "")]
        if len(given) == 1:
            values["kind"] = {"cron": "cron", "interval_seconds": "interval", "run_at": "once"}[given[0]]
        elif not given:
            fail("cron", "give one of cron, interval_seconds or run_at (or kind with its field)")
        else:
            fail("kind", f"is ambiguous: {' and '.join(given)} are both given; set kind")
    if problems or name is None:
        return None, problems
    return Entry(path=shown, line=line, index=index, name=name.strip(), values=values, job_key_from=job_from), []


# --- applying ----------------------------------------------------------------------------------------


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
            problems.append(
                Problem(
                    path=entry.path,
                    line=entry.line,
                    entry=entry.index,
                    name=entry.name,
                    field="entry" if target == "__all__" else target,
                    message=message,
                )
            )
    return problems


def _in_scope(source_path: str, scope: str) -> bool:
    return source_path == scope or source_path.startswith(scope.rstrip("/") + "/")


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
    ``dry_run`` everything is validated and computed, then rolled back. Raises ``SyncError``.
    """
    now = now or timezone.now()
    files = find_files(target)
    report = SyncReport(dry_run=dry_run)
    entries: list[Entry] = []
    problems: list[Problem] = []
    for number, path in enumerate(files, start=1):
        shown = display_path(path)
        report.files.append(shown)
        found, file_problems = read_file(path, shown)
        entries += found
        problems += file_problems
        if progress is not None:
            progress(number, len(files), shown, len(found))

    first_seen: dict[str, Entry] = {}
    for entry in entries:
        earlier = first_seen.setdefault(entry.name, entry)
        if earlier is not entry:
            problems.append(
                Problem(
                    path=entry.path,
                    line=entry.line,
                    entry=entry.index,
                    name=entry.name,
                    field="id",
                    message=f"is also defined in {earlier.path}:{earlier.line}; schedule names are unique",
                )
            )
    jobs = {job.key: job for job in Job.objects.filter(key__in={e.values["job"] for e in entries})}
    directive_names = {e.values["directive"] for e in entries if e.values.get("directive")}
    directives = {d.name: d for d in Directive.objects.filter(name__in=directive_names).select_related("job")}
    for entry in entries:
        key = entry.values["job"]
        if key not in jobs:
            known = ", ".join(Job.objects.order_by("key").values_list("key", flat=True)) or "(none)"
            via = f" (from dag: {entry.values['params'].get('dag')})" if entry.job_key_from == "dag" else ""
            problems.append(
                Problem(
                    path=entry.path,
                    line=entry.line,
                    entry=entry.index,
                    name=entry.name,
                    field=entry.job_key_from,
                    message=f"unknown job {key!r}{via}; jobs in this deployment: {known}",
                )
            )
        wanted = entry.values.get("directive")
        if wanted and wanted not in directives:
            problems.append(
                Problem(
                    path=entry.path,
                    line=entry.line,
                    entry=entry.index,
                    name=entry.name,
                    field="directive",
                    message=f"unknown directive {wanted!r}",
                )
            )
    if problems:
        raise SyncError(problems)

    scope = display_path(target)
    defaults = _defaults()
    with transaction.atomic():
        existing = {
            row.name: row for row in Schedule.objects.select_for_update().filter(name__in=[e.name for e in entries])
        }
        for entry in entries:
            wanted_values = {**defaults, **entry.values}
            wanted_values["job"] = jobs[entry.values["job"]]
            wanted_values["directive"] = directives.get(entry.values.get("directive") or "")
            row = existing.get(entry.name)
            if row is not None and row.source != ScheduleSource.YAML and not adopt:
                problems.append(
                    Problem(
                        path=entry.path,
                        line=entry.line,
                        entry=entry.index,
                        name=entry.name,
                        field="id",
                        message=f"a schedule with this name was made in the {row.get_source_display()}, not by a "
                        "sync; rename the entry, or run with --adopt to manage that schedule from YAML from now on",
                    )
                )
                continue
            candidate = Schedule(name=entry.name) if row is None else copy.copy(row)
            changed = [
                (name, _shown(getattr(candidate, name)), _shown(value))
                for name, value in wanted_values.items()
                if row is not None and not _same(getattr(candidate, name), value)
            ]
            for origin_field, origin_value in (("source", ScheduleSource.YAML.value), ("source_path", entry.path)):
                if row is not None and getattr(row, origin_field) != origin_value:
                    changed.append((origin_field, getattr(row, origin_field), origin_value))
            if row is not None and not changed:
                report.changes.append(Change(action="unchanged", name=entry.name, path=entry.path))
                continue
            for name, value in wanted_values.items():
                setattr(candidate, name, value)
            candidate.source = ScheduleSource.YAML
            candidate.source_path = entry.path
            try:
                candidate.full_clean(validate_unique=False)
                # A schedule of this name made by another door since ``existing`` was read: refused
                # by the unique constraint, reported like any other problem (and nothing applied).
                with constraints.enforced():
                    candidate.save(now=now)
            except DjangoValidationError as exc:
                problems += _validation_problems(entry, exc)
                continue
            report.changes.append(
                Change(
                    action="create" if row is None else "update",
                    name=entry.name,
                    path=entry.path,
                    fields=tuple(changed),
                )
            )
        if problems:
            raise SyncError(problems)
        if prune:
            names = {entry.name for entry in entries}
            gone = [
                row
                for row in Schedule.objects.select_for_update()
                .filter(source=ScheduleSource.YAML)
                .exclude(name__in=names)
                .order_by("name")
                if _in_scope(row.source_path, scope)
            ]
            for row in gone:
                if delete:
                    row.delete()
                    report.changes.append(
                        Change(action="prune", name=row.name, path=row.source_path, fields=(("deleted", False, True),))
                    )
                elif row.enabled:
                    Schedule.objects.filter(pk=row.pk).set_enabled(False, now=now)
                    report.changes.append(
                        Change(action="prune", name=row.name, path=row.source_path, fields=(("enabled", True, False),))
                    )
        if dry_run:
            transaction.set_rollback(True)
    return report
