"""Misfire and overlap policies as pure decisions.

Inputs are values (occurrence times, ``now``, the ids of a schedule's active runs, the policy);
outputs are frozen ``Decision`` values. Only the dispatch step turns them into rows and messages.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class Action(StrEnum):
    """What a tick does with one occurrence."""

    DISPATCH = "dispatch"
    SKIP = "skip"
    MISS = "miss"
    BUFFER = "buffer"


class OverlapPolicy(StrEnum):
    """What happens to an occurrence due while a run of its schedule is still active."""

    SKIP = "skip"
    ALLOW = "allow"
    BUFFER_ONE = "buffer_one"
    BUFFER_ALL = "buffer_all"
    REPLACE = "replace"

    @property
    def label(self) -> str:
        return _OVERLAP_LABELS[self]

    @classmethod
    def choices(cls) -> list[tuple[str, str]]:
        """``(value, label)`` pairs, for model and form fields."""
        return [(member.value, member.label) for member in cls]


class MisfirePolicy(StrEnum):
    """What happens to occurrences that became due while no beat ran (or while disabled)."""

    RUN_ONCE = "run_once"
    RUN_ALL = "run_all"
    SKIP = "skip"

    @property
    def label(self) -> str:
        return _MISFIRE_LABELS[self]

    @classmethod
    def choices(cls) -> list[tuple[str, str]]:
        """``(value, label)`` pairs, for model and form fields."""
        return [(member.value, member.label) for member in cls]


_OVERLAP_LABELS = {
    OverlapPolicy.SKIP: "skip: record the new occurrence as skipped while a run is active",
    OverlapPolicy.ALLOW: "allow: start it anyway (limits still apply)",
    OverlapPolicy.BUFFER_ONE: "buffer one: keep one occurrence waiting, skip the rest",
    OverlapPolicy.BUFFER_ALL: "buffer all: keep every occurrence, run them one after another",
    OverlapPolicy.REPLACE: "replace: cancel the active run and start the new one",
}
#: The overlap policies under which occurrences may wait (``buffered``) for the active run to end.
BUFFERING = frozenset({OverlapPolicy.BUFFER_ONE, OverlapPolicy.BUFFER_ALL})
#: Membership by value (``"skip" in OverlapPolicy`` raises on Python 3.11).
_OVERLAP_VALUES = frozenset(OverlapPolicy)
_MISFIRE_VALUES = frozenset(MisfirePolicy)
_MISFIRE_LABELS = {
    MisfirePolicy.RUN_ONCE: "run once: run the latest missed occurrence, record the others missed",
    MisfirePolicy.RUN_ALL: "run all: run every missed occurrence within the grace (bounded)",
    MisfirePolicy.SKIP: "skip: run none of the missed occurrences, record them missed",
}


@dataclass(frozen=True, kw_only=True)
class Decision:
    scheduled_for: datetime
    action: Action
    reason: str = ""
    #: Occurrences this decision stands for (>1 only for a collapsed range of missed ones).
    missed_count: int = 1
    missed_until: datetime | None = None
    #: For ``replace``: the active runs to cancel before this one starts.
    cancel_run_ids: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Due:
    """An occurrence whose dispatch time has come: nominal time and when it became due (with jitter)."""

    scheduled_for: datetime
    due_at: datetime


def _seconds(delta: timedelta) -> str:
    return f"{delta.total_seconds():.0f}s"


def misfire(
    due: Sequence[Due],
    *,
    now: datetime,
    policy: str,
    late_after: timedelta,
    max_catchup: int,
) -> tuple[list[Due], list[Decision]]:
    """Split occurrences (oldest first, all within the grace) into those to run and those missed.

    An occurrence is *on time* when it became due at most ``late_after`` ago; later ones misfired
    (no beat ran, or the schedule was disabled). On-time occurrences always run (subject to the
    overlap policy); misfired ones follow ``policy``:

    * ``run_once``: when nothing is on time, run the latest misfired one; the rest are missed.
    * ``run_all``: run every one, oldest first, at most ``max_catchup`` in all; the rest are missed.
    * ``skip``: run none of them.
    """
    if policy not in _MISFIRE_VALUES:
        raise ValueError(f"unknown misfire policy {policy!r}")
    on_time = [o for o in due if now - o.due_at <= late_after]
    late = [o for o in due if now - o.due_at > late_after]
    missed: list[Decision] = []

    def miss(occurrence: Due, reason: str) -> None:
        missed.append(Decision(scheduled_for=occurrence.scheduled_for, action=Action.MISS, reason=reason))

    if policy == MisfirePolicy.RUN_ALL:
        runnable = sorted(on_time + late, key=lambda o: o.scheduled_for)
        for occurrence in runnable[max_catchup:]:
            miss(occurrence, f"more than {max_catchup} occurrences to catch up (misfire policy run_all)")
        return runnable[:max_catchup], missed
    if policy == MisfirePolicy.RUN_ONCE:
        if on_time:
            for occurrence in late:
                miss(occurrence, "superseded by an on-time occurrence (misfire policy run_once)")
            return on_time, missed
        if not late:
            return [], []
        latest = late[-1]
        for occurrence in late[:-1]:
            miss(
                occurrence,
                f"coalesced into the run for {latest.scheduled_for.isoformat()} (misfire policy run_once)",
            )
        return [latest], missed
    for occurrence in late:
        miss(occurrence, f"late by {_seconds(now - occurrence.due_at)} (misfire policy skip)")
    return on_time, missed


def overlap(
    to_run: Sequence[Due],
    *,
    policy: str,
    active_run_ids: Sequence[str],
    buffered: int,
) -> list[Decision]:
    """Decide each occurrence given the schedule's active runs and already-buffered occurrences.

    With no active run and nothing buffered, an occurrence is dispatched. Otherwise:
    ``skip`` records it skipped; ``allow`` dispatches it; ``buffer_one`` keeps at most one waiting
    and skips the rest; ``buffer_all`` keeps every one waiting; ``replace`` dispatches the latest
    one and cancels the active runs (earlier ones of the same tick are skipped as superseded).
    """
    if policy not in _OVERLAP_VALUES:
        raise ValueError(f"unknown overlap policy {policy!r}")
    decisions: list[Decision] = []
    active = list(active_run_ids)
    waiting = buffered
    if policy == OverlapPolicy.REPLACE and len(to_run) > 1:
        latest = to_run[-1]
        for occurrence in to_run[:-1]:
            decisions.append(
                Decision(
                    scheduled_for=occurrence.scheduled_for,
                    action=Action.SKIP,
                    reason=f"superseded by {latest.scheduled_for.isoformat()} (overlap policy replace)",
                )
            )
        to_run = [latest]
    for occurrence in to_run:
        when = occurrence.scheduled_for
        if not active and not waiting:
            decisions.append(Decision(scheduled_for=when, action=Action.DISPATCH))
            active = ["(this tick)"]
            continue
        holder = f"run {active[0]}" if active else "an earlier buffered occurrence"
        if policy == OverlapPolicy.ALLOW:
            decisions.append(Decision(scheduled_for=when, action=Action.DISPATCH))
        elif policy == OverlapPolicy.SKIP:
            decisions.append(
                Decision(
                    scheduled_for=when,
                    action=Action.SKIP,
                    reason=f"{holder} of this schedule is still active (overlap policy skip)",
                )
            )
        elif policy == OverlapPolicy.BUFFER_ONE:
            if waiting == 0:
                decisions.append(
                    Decision(scheduled_for=when, action=Action.BUFFER, reason=f"waiting for {holder} to end")
                )
                waiting = 1
            else:
                decisions.append(
                    Decision(
                        scheduled_for=when,
                        action=Action.SKIP,
                        reason="one occurrence is already waiting (overlap policy buffer_one)",
                    )
                )
        elif policy == OverlapPolicy.BUFFER_ALL:
            decisions.append(Decision(scheduled_for=when, action=Action.BUFFER, reason=f"waiting for {holder} to end"))
            waiting += 1
        else:  # replace
            real = tuple(run_id for run_id in active if run_id != "(this tick)")
            decisions.append(
                Decision(
                    scheduled_for=when,
                    action=Action.DISPATCH,
                    reason=f"replaces {', '.join(real)}" if real else "",
                    cancel_run_ids=real,
                )
            )
            active = ["(this tick)"]
    return decisions


def runs_to_cancel(decisions: Iterable[tuple[int, Decision]], inserted: Collection[tuple[int, datetime]]) -> list[str]:
    """The active runs that the ``replace`` decisions of one tick cancel: only those whose occurrence it inserted.

    ``decisions`` pairs each decision with its schedule's id; ``inserted`` holds the
    ``(schedule id, scheduled_for)`` of the occurrences the tick's insert won. A lost insert means
    another beat handled that occurrence, and the active run the decision saw may be that beat's
    run of the very same occurrence: cancelling it would leave nothing running.
    """
    return [
        run_id
        for schedule_id, decision in decisions
        if (schedule_id, decision.scheduled_for) in inserted
        for run_id in decision.cancel_run_ids
    ]
