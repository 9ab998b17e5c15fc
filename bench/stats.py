"""Pure helpers of the bench: summary statistics and the exactly-once check (no Django, no Redis)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field


def median(values: Sequence[float]) -> float:
    if not values:
        raise ValueError("median of no values")
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile: the smallest value with at least ``pct`` % of the values at or below it."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 < pct <= 100:
        raise ValueError(f"pct must be in (0, 100], not {pct}")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def ratio(ours: float, theirs: float) -> float | None:
    """How many times ``ours`` is of ``theirs`` (None when ``theirs`` is zero)."""
    return None if theirs == 0 else ours / theirs


@dataclass(kw_only=True)
class ExactlyOnce:
    published: int
    expected: int
    duplicated: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.duplicated or self.missing or self.unexpected)

    def summary(self) -> str:
        if self.ok:
            return f"exactly once: {self.published} published, {self.expected} expected"
        return (
            f"NOT exactly once: {self.published} published, {self.expected} expected, "
            f"{len(self.duplicated)} duplicated, {len(self.missing)} missing, {len(self.unexpected)} unexpected"
        )


def exactly_once(published: Iterable[str], expected: Iterable[str]) -> ExactlyOnce:
    """Compare the keys of the messages found in the queue with the keys that should each be there once."""
    counts = Counter(published)
    wanted = set(expected)
    return ExactlyOnce(
        published=sum(counts.values()),
        expected=len(wanted),
        duplicated=sorted(key for key, n in counts.items() if n > 1),
        missing=sorted(wanted - counts.keys()),
        unexpected=sorted(counts.keys() - wanted),
    )
