"""Reading schedule entries out of YAML files: where the files are, and what each entry asks for.

Everything here is checked without the database: unknown and duplicated keys, types, times with a
time zone, the job's key and the kind. Each problem names the file, line, entry and field; the
model's own validation of the values comes later (``scheduling.yaml_apply``).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from django.conf import settings

from scheduling.surfaces import yaml_calendars, yaml_notifications
from scheduling.surfaces.input_checks import unstorable
from scheduling.surfaces.yaml_calendars import CalendarEntry
from scheduling.surfaces.yaml_load import Refusal, load_file
from scheduling.surfaces.yaml_notifications import RuleEntry
from scheduling.surfaces.yaml_report import Problem, SyncError

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
    "pause_after_failures",
    "remaining_runs",
    "deadline_seconds",
    "calendars",
)
#: Every field a synced schedule is made of: compared on each run, defaulted when left out.
MANAGED_FIELDS = ("job", *SCHEDULE_FIELDS)
ENTRY_KEYS = frozenset({"id", "name", "job", "dag", "paused", *SCHEDULE_FIELDS})
#: The keys of an entry's ``paused:`` mapping.
PAUSED_KEYS = ("note", "until")
_SORTED_KEYS = sorted(ENTRY_KEYS)
DATETIME_FIELDS = ("run_at", "start_at", "end_at")
DAG_JOB = "dag"


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
    #: ``paused: {note: ..., until: ...}`` as written (None: the entry does not pause it).
    paused: dict[str, Any] | None = None


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


def read_file(
    path: Path,
    shown: str,
    *,
    fast: bool = True,
    calendars: list[CalendarEntry] | None = None,
    rules: list[RuleEntry] | None = None,
) -> tuple[list[Entry], list[Problem]]:
    """The entries of one file (safe loading only), or the problems that stop it being read.

    A file is a list of schedule entries, or a mapping with ``schedules:`` (that list) and
    ``calendars:`` (``yaml_calendars``), whose entries are added to ``calendars`` when given, and
    ``notifications:`` (``yaml_notifications``), added to ``rules`` when given.
    ``fast=False`` reads the YAML with PyYAML's pure-Python loader only (see ``scheduling.yaml_load``).
    """

    def problem(message: str, *, line: int | None = None, entry: int | None = None, key: str = "file") -> Problem:
        return Problem(path=shown, line=line, entry=entry, name=None, field=key, message=message)

    loaded = load_file(path, fast=fast)
    if isinstance(loaded, Refusal):
        return [], [problem(loaded.message, line=loaded.line)]
    data, root = loaded.data, loaded.root
    problems: list[Problem] = []
    if isinstance(data, dict) and isinstance(root, yaml.MappingNode) and set(data) & set(yaml_calendars.FILE_KEYS):
        data, root, problems = _sections(data, root, shown, calendars, rules)
    if data is None:
        return [], problems
    if not isinstance(data, list) or not isinstance(root, yaml.SequenceNode):
        message = "must be a list of schedule entries (- id: ...), or a mapping with schedules: and calendars:"
        return [], [*problems, problem(message, line=root.start_mark.line + 1 if root is not None else 1)]
    entries: list[Entry] = []
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


def _sections(
    data: dict[Any, Any],
    root: yaml.MappingNode,
    shown: str,
    calendars: list[CalendarEntry] | None,
    rules: list[RuleEntry] | None = None,
) -> tuple[Any, yaml.Node | None, list[Problem]]:
    """A file written as a mapping: its ``schedules`` list (and node), with its calendars read."""
    problems: list[Problem] = []
    nodes = {str(key.value): (key, value) for key, value in root.value}
    for key, (key_node, _) in nodes.items():
        if key not in yaml_calendars.FILE_KEYS:
            problems.append(
                Problem(
                    path=shown,
                    line=key_node.start_mark.line + 1,
                    entry=None,
                    name=None,
                    field=key,
                    message="unknown key; a schedules file's mapping has schedules:, calendars: and notifications:",
                )
            )
    if "calendars" in nodes and data.get("calendars") is not None:
        found, calendar_problems = yaml_calendars.read(data["calendars"], nodes["calendars"][1], shown)
        problems += calendar_problems
        if calendars is not None:
            calendars += found
    if "notifications" in nodes and data.get("notifications") is not None:
        found_rules, rule_problems = yaml_notifications.read(data["notifications"], nodes["notifications"][1], shown)
        problems += rule_problems
        if rules is not None:
            rules += found_rules
    if "schedules" not in nodes or data.get("schedules") is None:
        return None, None, problems
    return data["schedules"], nodes["schedules"][1], problems


def _paused(value: Any, fail: Callable[[str, str], None]) -> dict[str, Any] | None:
    """An entry's ``paused:`` mapping checked for shape (the note and time are checked when applied)."""
    example = 'a mapping, e.g. paused: {note: "release freeze", until: 2026-12-24T08:00:00Z}'
    if not isinstance(value, dict):
        fail("paused", f"must be {example}")
        return None
    unknown = [str(key) for key in value if key not in PAUSED_KEYS]
    if unknown:
        fail("paused", f"unknown key {unknown[0]!r}; paused takes note (required) and until (optional)")
        return None
    if not isinstance(value.get("note"), str) or not value["note"].strip():
        fail("paused.note", "is required: why the schedule is paused (text)")
        return None
    return dict(value)


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
        problem = unstorable(value)  # NUL, or "\\ud800" in a double-quoted scalar: unstorable
        if problem:
            fail(_key_name(key), problem)
    if problems:
        return None, problems
    for key in raw:
        if str(key) not in ENTRY_KEYS:
            close = difflib.get_close_matches(str(key), _SORTED_KEYS, n=1)
            fail(
                _key_name(key),
                "unknown key" + (f"; did you mean {close[0]}?" if close else f"; keys: {', '.join(_SORTED_KEYS)}"),
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
    paused = _paused(raw["paused"], fail) if "paused" in raw else None
    # Everything else about the values (types, the kind, dates in the schedule's zone, the job and
    # directive) is the shared input's, as at every other door (``yaml_apply``).
    if problems or name is None:
        return None, problems
    return Entry(
        path=shown, line=line, index=index, name=name.strip(), values=values, job_key_from=job_from, paused=paused
    ), []
