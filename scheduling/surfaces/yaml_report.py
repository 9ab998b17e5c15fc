"""What a YAML sync says back: the problems that stop it, or the changes it made (or would make)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from orchestrator.errors import SchedulerError

Action = Literal["create", "update", "unchanged", "prune"]

#: ``progress(number, total, path, entries)`` after each file is read.
Progress = Callable[[int, int, str, int], None]


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
