"""What an import or a ``beat_schedule`` sync says back: one outcome per row or entry, and the totals."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Action = Literal["created", "updated", "unchanged", "skipped", "pruned"]
ACTIONS: tuple[Action, ...] = ("created", "updated", "unchanged", "skipped", "pruned")


class Unmappable(Exception):
    """A row or entry that cannot be imported as it is; the message is the reason printed after ``skipped:``."""


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:79] + "…"


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """What became of one row or entry: its schedule's name, the action, and what a reader must know.

    ``reason``: why it was skipped. ``notes``: what was not carried over or was read differently
    (a dropped message option, an interval's phase); never silent. ``fields``: ``(field, old,
    new)`` for an update.
    """

    name: str
    action: Action
    reason: str = ""
    notes: tuple[str, ...] = ()
    fields: tuple[tuple[str, Any, Any], ...] = ()

    def line(self, *, dry_run: bool = False) -> str:
        """``nightly: created``, ``hourly: updated (cron: '0 * * * *' -> '30 * * * *')``, ``x: skipped: <why>``."""
        if self.action == "skipped":
            return f"{self.name}: skipped: {self.reason}"
        verb = f"would be {self.action}" if dry_run and self.action in ("created", "updated", "pruned") else self.action
        details = [f"{name}: {_shown(old)} -> {_shown(new)}" for name, old, new in self.fields]
        details += list(self.notes)
        return f"{self.name}: {verb}" + (f" ({'; '.join(details)})" if details else "")


@dataclass(kw_only=True)
class Report:
    """Every outcome, in the order the rows or entries were read."""

    dry_run: bool
    outcomes: list[Outcome] = field(default_factory=list)

    def count(self, action: Action) -> int:
        return sum(1 for outcome in self.outcomes if outcome.action == action)

    @property
    def changed(self) -> bool:
        return any(outcome.action in ("created", "updated", "pruned") for outcome in self.outcomes)

    def totals(self) -> str:
        """``2 created, 1 updated, 5 unchanged, 1 skipped`` (and ``, 1 pruned`` when any was)."""
        shown = [action for action in ACTIONS if action != "pruned" or self.count("pruned")]
        return ", ".join(f"{self.count(action)} {action}" for action in shown)

    def lines(self) -> list[str]:
        """Each outcome's line, then the totals (``dry run, nothing written: ...`` for a dry run)."""
        found = [outcome.line(dry_run=self.dry_run) for outcome in self.outcomes]
        return [*found, f"dry run, nothing written: would be {self.totals()}" if self.dry_run else self.totals()]
