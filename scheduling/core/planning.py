"""What to do with one claimed schedule at ``now``: a pure function of values.

The dispatch step hands each claimed schedule's state to ``plan`` and turns the returned
decisions into rows and messages. Enumeration is bounded so a tick's work follows what is due,
not how long a schedule was neglected: at most ``max_enumerate`` occurrences are looked at in
each of the two regions below, and a longer range collapses into one counted ``missed`` decision.

    cursor ......... now - grace ......... now
    |-- expired ----|------- live ---------|
    expired: older than the misfire grace, missed under every policy
    live: subject to the misfire policy, then to the overlap policy

Two schedule controls apply before the policies: a fire time an exclusion calendar excludes is
recorded ``skipped`` (never ``missed``, in either region) with a reason naming the calendar; and a
schedule with ``remaining_runs`` dispatches (or buffers) at most that many occurrences, records
the rest ``skipped``, and has no next run once none are left.

Lateness counts from an occurrence's due time (nominal time plus its jitter offset), the time the
beat meant to dispatch it, so a jitter longer than the grace never makes an on-time beat miss:
the last occurrence before ``now - grace`` whose due time is later belongs to the live region.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from scheduling.core import calendars, jitter, policies, timing
from scheduling.core.policies import Action, Decision, Due

EPSILON = timing.EPSILON
#: Why a schedule with ``remaining_runs`` at 0 has no next run, and why an occurrence past it is skipped.
NO_RUNS_LEFT = "no runs left (remaining_runs is 0)"


@dataclass(frozen=True, kw_only=True)
class ScheduleState:
    schedule_id: int
    spec: timing.Spec
    next_run_at: datetime
    jitter_seconds: int
    misfire_policy: str
    misfire_grace_seconds: int
    overlap_policy: str
    #: Exclusion calendars attached to the schedule, in the order they are checked.
    calendars: tuple[calendars.CalendarSpec, ...] = ()
    #: Occurrences it may still dispatch; None for unlimited.
    remaining_runs: int | None = None


@dataclass(frozen=True, kw_only=True)
class Bounds:
    #: Occurrences that became due longer ago than this misfired.
    late_after: timedelta
    #: ``run_all`` runs at most this many misfired occurrences.
    max_catchup: int
    #: Occurrences enumerated one by one per region per tick.
    max_enumerate: int


@dataclass(frozen=True, kw_only=True)
class Plan:
    decisions: list[Decision]
    next_run_at: datetime | None
    due_at: datetime | None
    #: Nominal time of the latest occurrence dispatched or buffered by this plan.
    last_run_at: datetime | None
    #: A one-off schedule disables itself once its occurrence is handled.
    disable: bool
    #: Occurrences dispatched or buffered: what ``remaining_runs`` loses when they are written.
    runs_taken: int = 0


def _due_time(state: ScheduleState, when: datetime, following: datetime | None) -> datetime:
    return jitter.due_time(state.spec, state.schedule_id, state.jitter_seconds, when, following)


def _collapsed(spec: timing.Spec, first: datetime, until: datetime, reason: str) -> Decision:
    count = timing.count_fire_times(spec, first - EPSILON, until - EPSILON)
    described = f"{count} occurrences" if count is not None else "more occurrences than can be listed"
    return Decision(
        scheduled_for=first,
        action=Action.MISS,
        reason=f"{described} from {first.isoformat()} to before {until.isoformat()} {reason}",
        missed_count=count or 1,
        missed_until=until,
    )


def _straddler(state: ScheduleState, cursor: datetime, boundary: datetime, bounds: Bounds) -> datetime | None:
    """The last fire time in ``[cursor, boundary)`` if its jittered due time is not older than ``boundary``."""
    if not state.jitter_seconds:
        return None
    start = max(cursor, boundary - timedelta(seconds=state.jitter_seconds))
    last = timing.last_fire_time_before(state.spec, start, boundary, bounds.max_enumerate)
    if last is None or _due_time(state, last, None) < boundary:
        return None
    return last


def plan(
    state: ScheduleState,
    *,
    now: datetime,
    active_run_ids: Sequence[str],
    buffered: int,
    bounds: Bounds,
) -> Plan:
    spec = state.spec
    decisions: list[Decision] = []
    cursor = state.next_run_at
    boundary = now - timedelta(seconds=state.misfire_grace_seconds)
    live_start = max(cursor, boundary)
    # The last fire time before the boundary may still be within the grace: lateness counts from
    # its jittered due time, which can lie past the boundary (never past the next fire time, so
    # no earlier one can). It then joins the live ones.
    straddler = _straddler(state, cursor, boundary, bounds) if cursor < live_start else None

    if cursor < live_start:
        expired_until = straddler or live_start
        expired, more = timing.fire_times_between(spec, cursor - EPSILON, expired_until - EPSILON, bounds.max_enumerate)
        if more:
            decisions.append(_collapsed(spec, expired[0], expired_until, "were older than the misfire grace"))
        else:
            reason = f"older than the misfire grace ({state.misfire_grace_seconds}s)"
            for when in expired:
                decisions.append(
                    _excluded(state, when) or Decision(scheduled_for=when, action=Action.MISS, reason=reason)
                )

    # ``beyond``: the first fire time after now, from the same walk (None if none, or if ``more``)
    live, more, beyond = timing.fire_times_window(spec, live_start - EPSILON, now, bounds.max_enumerate)
    if straddler is not None:
        live = [straddler, *live]
    if more:
        # Too many live occurrences to list: keep the most recent ones, collapse the rest.
        window = now - live_start
        start = live_start
        while more and window > EPSILON:
            window = window / 2
            start = now - window
            narrower, more, beyond = timing.fire_times_window(spec, start - EPSILON, now, bounds.max_enumerate)
        first_live = live[0]
        live = narrower
        decisions.append(_collapsed(spec, first_live, start, "were superseded by later ones"))

    due: list[Due] = []
    waiting_for: Due | None = None
    for index, when in enumerate(live):
        following = live[index + 1] if index + 1 < len(live) else (None if more else beyond)
        due_time = _due_time(state, when, following)
        if due_time > now:
            waiting_for = Due(scheduled_for=when, due_at=due_time)
            break
        skipped = _excluded(state, when)
        if skipped is not None:
            decisions.append(skipped)
        else:
            due.append(Due(scheduled_for=when, due_at=due_time))

    to_run, missed = policies.misfire(
        due, now=now, policy=state.misfire_policy, late_after=bounds.late_after, max_catchup=bounds.max_catchup
    )
    decisions += missed
    to_run, left_over = _within_remaining(to_run, state.remaining_runs)
    decisions += left_over
    decisions += policies.overlap(to_run, policy=state.overlap_policy, active_run_ids=active_run_ids, buffered=buffered)

    if waiting_for is not None:
        next_run_at: datetime | None = waiting_for.scheduled_for
        due_at: datetime | None = waiting_for.due_at
    else:
        if more:  # the walk stopped short of now: look the next one up
            upcoming = timing.next_fire_times(spec, max(now, live[-1]) if live else now, 1)
            next_run_at = upcoming[0] if upcoming else None
        else:
            next_run_at = beyond
        due_at = None if next_run_at is None else _due_time(state, next_run_at, None)
    started = [d.scheduled_for for d in decisions if d.action in (Action.DISPATCH, Action.BUFFER)]
    if state.remaining_runs is not None and len(started) >= state.remaining_runs:
        next_run_at = due_at = None  # no runs left: no next occurrence until someone adds runs
    return Plan(
        decisions=sorted(decisions, key=lambda d: d.scheduled_for),
        next_run_at=next_run_at,
        due_at=due_at,
        last_run_at=max(started) if started else None,
        disable=spec.kind == timing.Kind.ONCE and next_run_at is None,
        runs_taken=len(started),
    )


def _excluded(state: ScheduleState, when: datetime) -> Decision | None:
    """A ``skip`` decision naming the calendar that excludes ``when``, or None."""
    if not state.calendars:
        return None
    calendar = calendars.excluded_by(state.calendars, when)
    if calendar is None:
        return None
    return Decision(scheduled_for=when, action=Action.SKIP, reason=calendars.reason(calendar))


def _within_remaining(to_run: list[Due], remaining: int | None) -> tuple[list[Due], list[Decision]]:
    """The occurrences ``remaining_runs`` still allows (oldest first) and a skip for each one past it."""
    if remaining is None or len(to_run) <= remaining:
        return to_run, []
    return to_run[:remaining], [
        Decision(scheduled_for=o.scheduled_for, action=Action.SKIP, reason=NO_RUNS_LEFT) for o in to_run[remaining:]
    ]
