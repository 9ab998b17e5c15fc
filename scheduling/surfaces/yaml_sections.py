"""The named lists a schedules file may hold besides its schedules (``calendars:``, ``notifications:``).

Each is a YAML list of mappings with a unique ``name``; ``read`` checks the shape, the keys (an
unknown one gets a "did you mean"), storable values and the name, each problem naming the file,
line, entry and field; ``duplicate_names`` finds a name defined twice across the files. What a
section adds (a key refused outright, a check across keys) comes in as its ``Section``.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml
from django.db import models

from orchestrator import constraints
from orchestrator.errors import ConstraintError
from scheduling.surfaces.input_checks import unstorable
from scheduling.surfaces.yaml_report import Problem


@dataclass(frozen=True, kw_only=True)
class NamedEntry:
    """One entry of a section as read from its file: where it is, its name and its kept values."""

    path: str
    line: int
    index: int
    name: str
    values: dict[str, Any]


def _no_refusal(key: str) -> str | None:
    return None


def _no_check(raw: Mapping[Any, Any]) -> list[tuple[str, str]]:
    return []


@dataclass(frozen=True, kw_only=True)
class Section:
    #: The file's key, e.g. ``calendars``.
    key: str
    #: What one entry is, in messages: ``calendar``, ``notification rule``.
    noun: str
    #: The plural a "must be a list of ..." message uses.
    plural: str
    #: The keys a mapping entry shows as its example, e.g. ``name: ..., dates: ...``.
    example: str
    #: Every key an entry may have (``name`` first).
    keys: tuple[str, ...]
    #: The keys whose values are kept in ``NamedEntry.values``.
    kept: tuple[str, ...]
    #: A message for a key refused outright (checked before unknown keys), or None.
    refuse_key: Callable[[str], str | None] = _no_refusal
    #: Problems across an entry's keys, as ``(field, message)``.
    check_entry: Callable[[Mapping[Any, Any]], list[tuple[str, str]]] = _no_check


def _short(section: Section) -> str:
    """``rule`` for ``notification rule``: what the messages call an entry after the first time."""
    return section.noun.split()[-1]


def read(section: Section, data: Any, node: yaml.Node, shown: str) -> tuple[list[NamedEntry], list[Problem]]:
    """The entries of the section's list in file ``shown``, and the problems found in them.
    An entry with a problem is left out: nothing of it is applied."""

    def problem(message: str, line: int, *, entry: int | None = None, name: str | None = None, key: str) -> Problem:
        return Problem(path=shown, line=line, entry=entry, name=name, field=key, message=message)

    if not isinstance(data, list) or not isinstance(node, yaml.SequenceNode):
        message = f"must be a list of {section.plural} (- name: ...)"
        return [], [problem(message, node.start_mark.line + 1, key=section.key)]
    entries: list[NamedEntry] = []
    problems: list[Problem] = []
    for index, (raw, item) in enumerate(zip(data, node.value, strict=True), start=1):
        line = item.start_mark.line + 1
        if not isinstance(raw, dict):
            problems.append(problem(f"must be a mapping ({section.example})", line, entry=index, key=section.key))
            continue
        name = raw.get("name")
        shown_name = name if isinstance(name, str) else None
        found = []
        for key, value in raw.items():
            refused = section.refuse_key(str(key))
            if refused:
                found.append(problem(refused, line, entry=index, name=shown_name, key=str(key)))
            elif str(key) not in section.keys:
                close = difflib.get_close_matches(str(key), section.keys, n=1)
                hint = f"; did you mean {close[0]}?" if close else f"; keys: {', '.join(section.keys)}"
                found.append(problem("unknown key" + hint, line, entry=index, name=shown_name, key=str(key)))
            elif unstorable(value):
                found.append(problem(str(unstorable(value)), line, entry=index, name=shown_name, key=str(key)))
        if not isinstance(name, str) or not name.strip():
            message = f"is required: the {_short(section)}'s unique name"
            found.append(problem(message, line, entry=index, key="name"))
        found += [problem(m, line, entry=index, name=shown_name, key=k) for k, m in section.check_entry(raw)]
        problems += found
        if not found and isinstance(name, str):
            values = {key: raw[key] for key in section.kept if key in raw}
            entries.append(NamedEntry(path=shown, line=line, index=index, name=name.strip(), values=values))
    return entries, problems


def duplicate_names(section: Section, entries: Sequence[NamedEntry]) -> list[Problem]:
    """A problem for each entry whose name an earlier entry (in any file) already took."""
    problems = []
    first: dict[str, NamedEntry] = {}
    for entry in entries:
        earlier = first.setdefault(entry.name, entry)
        if earlier is not entry:
            message = (
                f"{section.noun} also defined in {earlier.path}:{earlier.line}; {_short(section)} names are unique"
            )
            problems.append(
                Problem(
                    path=entry.path, line=entry.line, entry=entry.index, name=entry.name, field="name", message=message
                )
            )
    return problems


def save_each(writes: Sequence[tuple[NamedEntry, models.Model]]) -> list[Problem]:
    """Save each entry's row; what the database refuses (a name another door took since the rows
    were read) becomes a problem on that entry, in the words every door uses, never an error.

    The caller rolls the whole file back when any problem comes back (each save is in a savepoint,
    so the transaction stays usable to report them all).
    """
    problems = []
    for entry, row in writes:
        try:
            with constraints.enforced():
                row.save()
        except ConstraintError as exc:
            problems += [
                Problem(path=entry.path, line=entry.line, entry=entry.index, name=entry.name, field=key, message=m)
                for key, messages in exc.errors.items()
                for m in messages
            ]
    return problems
