"""Backfills: a schedule's past fire times in ``[start, end)`` created once each, run through the one path.

``request`` validates and records a backfill (nothing is created yet); every beat's maintenance
pass calls ``fill``, which creates the next batch of its occurrences (at most
``SCHEDULER_BACKFILL_BATCH`` fire times per pass, all backfills together, so normal dispatch in
the same loop is never held up for long; and none while a schedule has been due for more than
``YIELD_AFTER``: a beat that is behind dispatches first). Each backfill row is locked ``SKIP LOCKED`` while a
batch is made, so with several beats each batch is made once; the unique
``(schedule, scheduled_for)`` constraint is the last line: an existing occurrence (the beat's own,
another backfill's) is left alone and not counted as created.

- ``buffer_all`` (the default): occurrences are ``buffered``; ``engine.buffered`` starts them one
  after another (the oldest first, when the schedule has no active run), with trigger ``backfill``.
- ``allow``: occurrences are dispatched at once, their runs published after commit; the job's and
  the global concurrency limits still apply in the workers.
- A fire time an exclusion calendar excludes is ``skipped`` with the calendar's reason.
- Backfill occurrences do not take the schedule's ``remaining_runs``: that counts the schedule's
  own future, not a repair of its past.

A backfill finishes when its range is exhausted and none of its occurrences is buffered or has a
run still pending, queued or running (event ``backfill_finished``). ``cancel`` skips what is still
buffered and cancels the runs not yet started; what ran or is running stays.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q

from orchestrator import audit, events, tracing
from orchestrator.cancelling import cancel_runs
from orchestrator.errors import BackfillStateError, RowDeletedError, ValidationError
from orchestrator.models import ACTIVE_STATUSES, RunStatus, RunTrigger
from orchestrator.publishing import publish_runs
from orchestrator.snapshots import DirectiveRef, JobSettings, PlannedRun, base_snapshot, plan_run
from orchestrator.store import insert_runs
from scheduling.core import calendars
from scheduling.core.policies import OverlapPolicy
from scheduling.engine import backfill_store, store
from scheduling.engine.backfill_times import count_fire_times, fire_times_from
from scheduling.engine.runs import schedule_ref
from scheduling.models import Backfill, BackfillStatus, OccurrenceStatus, Schedule, ScheduledRun

logger = logging.getLogger(__name__)

#: The overlap policies a backfill offers: one after another, or all at once (limits still apply).
POLICIES = (OverlapPolicy.BUFFER_ALL.value, OverlapPolicy.ALLOW.value)
#: What a dry run lists at most.
PREVIEW_LIMIT = 1000
CANCELLED_REASON = "backfill cancelled"
#: A pass makes no batch while a schedule has been due longer than this: normal dispatch is behind
#: (a slow or overloaded beat) and goes first; the backfill goes on once it has caught up.
YIELD_AFTER = timedelta(seconds=1)
#: What a fire time that becomes a run at once (``allow``) weighs against the pass's budget, a buffered
#: one weighing 1: it also writes and publishes its run (a batch of 500 took 1.25 s against 0.21 s
#: buffered on a quiet machine, and held the other schedules' dispatch that long: lag p99 1.4 s).
RUN_WEIGHT = 2.5
_TICK = timedelta(microseconds=1)
#: The earliest time a backfill may start: the databases refuse far-off years and odd offsets
#: (PostgreSQL takes at most ±15:59), and no schedule of this system ran before it.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, kw_only=True, slots=True)
class FireTime:
    at: datetime
    #: The name of the calendar that excludes it, or None.
    excluded: str | None


@dataclass(frozen=True, kw_only=True, slots=True)
class Preview:
    """A dry run: what a backfill of the range would hold; nothing is written."""

    #: Fire times in ``[start, end)`` (the backfill's ``count``).
    count: int
    #: Of them, the ones that already have an occurrence (left alone).
    existing: int
    #: The first ``limit`` fire times without an occurrence yet, oldest first.
    fire_times: list[FireTime]


def _in_utc(value: Any) -> datetime | str:
    """``value`` as a UTC datetime, or what is wrong with it."""
    if not isinstance(value, datetime):
        return "give a date and time, e.g. 2026-01-01T00:00:00Z"
    if value.tzinfo is None or value.utcoffset() is None:
        return "give a time zone (e.g. a trailing Z for UTC, or +02:00)"
    try:
        moment = value.astimezone(UTC)
    except OverflowError:
        moment = EARLIEST - _TICK
    if moment < EARLIEST:
        return f"must not be before {events.utc_stamp(EARLIEST)}"
    return moment


def validate(
    schedule: Schedule, *, start: Any, end: Any, overlap_policy: Any, now: datetime, cap: int | None = None
) -> int:
    """Check a backfill request; return its fire-time count. Raises ``ValidationError`` keyed by field."""
    errors: dict[str, list[str]] = {}
    for name, value in (("start", start), ("end", end)):
        checked = _in_utc(value)
        if isinstance(checked, str):
            errors[name] = [checked]
    if overlap_policy not in POLICIES:
        errors["overlap_policy"] = [f"must be one of {', '.join(POLICIES)} (default buffer_all: one after another)"]
    if errors:
        raise ValidationError(errors)
    if start >= end:
        raise ValidationError({"end": ["must be after start"]})
    if end > now:
        raise ValidationError({"end": [f"must not be after now ({events.utc_stamp(now)}): a backfill fills the past"]})
    limit = int(settings.SCHEDULER_BACKFILL_MAX) if cap is None else cap
    count = count_fire_times(schedule, start, end, limit)
    if count > limit:
        raise ValidationError(
            {"end": [f"the range holds more than {limit} fire times (SCHEDULER_BACKFILL_MAX); split it"]}
        )
    if count == 0:
        raise ValidationError({"start": ["no fire time of this schedule falls in [start, end)"]})
    return count


def request(
    schedule: Schedule,
    *,
    start: datetime,
    end: datetime,
    overlap_policy: str = OverlapPolicy.BUFFER_ALL.value,
    by: str,
    now: datetime,
) -> Backfill:
    """Record a backfill of ``schedule``'s fire times in ``[start, end)``; the beats fill it from now on."""
    count = validate(schedule, start=start, end=end, overlap_policy=overlap_policy, now=now)
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    with transaction.atomic():
        backfill = Backfill.objects.create(
            schedule=schedule,
            start=start,
            end=end,
            overlap_policy=overlap_policy,
            count=count,
            cursor=start,
            requested_by=by[:150],
        )
        event = {**_fields(backfill, schedule.name), "by": by}
        with audit.fallback(by, audit.OTHER_DOOR):
            asked = {key: event[key] for key in ("backfill_id", "start", "end", "overlap_policy", "count")}
            audit.record(schedule, "backfill", {"backfill": {"before": None, "after": asked}})
        transaction.on_commit(lambda: events.emit([{"event": events.BACKFILL_STARTED, **event}]))
    logger.info(
        "backfill %s of %s requested: %d fire times", backfill.pk, schedule.name, count,
        extra={"event": events.BACKFILL_STARTED, "schedule_id": schedule.pk},
    )  # fmt: skip
    return backfill


def dry_run(
    schedule: Schedule, *, start: Any, end: Any, overlap_policy: Any, now: datetime, limit: int = PREVIEW_LIMIT
) -> Preview:
    """Every door's dry run: the request checked as ``request`` checks it, then previewed (counted once)."""
    count = validate(schedule, start=start, end=end, overlap_policy=overlap_policy, now=now)
    return preview(schedule, start.astimezone(UTC), end.astimezone(UTC), limit, count=count)


def preview(
    schedule: Schedule, start: datetime, end: datetime, limit: int = PREVIEW_LIMIT, *, count: int | None = None
) -> Preview:
    """What a backfill of ``[start, end)`` would create: fire times without an occurrence, excluded ones marked.

    ``count``: the range's fire times when ``validate`` has just counted them (a cron's count is a walk).
    """
    if count is None:
        count = count_fire_times(schedule, start, end, int(settings.SCHEDULER_BACKFILL_MAX))
    existing = ScheduledRun.objects.filter(schedule=schedule, scheduled_for__gte=start, scheduled_for__lt=end)
    attached = [calendar.spec() for calendar in schedule.calendars.all()]
    listed: list[FireTime] = []
    cursor = start
    while len(listed) < limit and cursor < end:
        times, following = fire_times_from(schedule, cursor, end, limit)
        taken = set(existing.filter(scheduled_for__in=times).values_list("scheduled_for", flat=True))
        for moment in times:
            if moment not in taken and len(listed) < limit:
                excluded = calendars.excluded_by(attached, moment)
                listed.append(FireTime(at=moment, excluded=excluded.name if excluded else None))
        if following is None:
            break
        cursor = following
    return Preview(count=count, existing=existing.count(), fire_times=listed)


@dataclass(kw_only=True)
class _Batch:
    backfill: Backfill
    runs: list[PlannedRun]
    events: list[dict[str, Any]]
    #: What the pass's budget counts: the fire times looked at (created or already there), weighted (``RUN_WEIGHT``).
    handled: int = 0
    created: int = 0
    #: Tracing on: each run's root span, ended once the runs are published.
    traces: tracing.Begun = field(default_factory=tracing.Begun)


def fill(now: datetime) -> int:
    """Create the next occurrences of running backfills (oldest first); returns how many were created.

    At most ``SCHEDULER_BACKFILL_BATCH`` fire times are handled per call, all backfills together.
    A backfill another beat is filling is skipped, not awaited. Runs are published after commit.
    """
    budget = max(1, int(settings.SCHEDULER_BACKFILL_BATCH))  # 0 would stall every backfill
    created = 0
    running = list(
        Backfill.objects.filter(status=BackfillStatus.RUNNING).order_by("id").values_list("id", flat=True)[:100]
    )
    if not running:
        return 0
    earliest = store.earliest_due_at()
    if earliest is not None and earliest < now - YIELD_AFTER:
        logger.debug("normal dispatch is behind (due since %s): no backfill batch this pass", earliest)
        return 0
    for backfill_id in running:
        if budget <= 0:
            break
        batch = _fill_one(backfill_id, now=now, budget=budget)
        if batch is None:
            continue
        budget -= batch.handled
        created += batch.created
        publish_runs(batch.runs, now=now)
        batch.traces.end()
        if batch.events:
            events.emit(batch.events)
    return created


def _fill_one(backfill_id: int, *, now: datetime, budget: int) -> _Batch | None:
    with transaction.atomic():
        backfill = (
            Backfill.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(pk=backfill_id, status=BackfillStatus.RUNNING)
            .select_related("schedule", "schedule__job", "schedule__directive")
            .first()
        )
        if backfill is None:
            return None  # another beat is filling it, or it ended meanwhile
        schedule = backfill.schedule
        batch = _Batch(backfill=backfill, runs=[], events=[])
        if backfill.cursor is not None:
            weight = RUN_WEIGHT if backfill.overlap_policy == OverlapPolicy.ALLOW else 1.0
            times, following = fire_times_from(schedule, backfill.cursor, backfill.end, max(1, int(budget / weight)))
            batch.handled = max(1, round(len(times) * weight)) if times else 0
            batch.created = _create(backfill, schedule, times, now=now, batch=batch)
            backfill.cursor = following
            backfill.created += batch.created
            Backfill.objects.filter(pk=backfill.pk).update(cursor=backfill.cursor, created=backfill.created)
        if backfill.cursor is None and not _unfinished(backfill).exists():
            Backfill.objects.filter(pk=backfill.pk).update(status=BackfillStatus.FINISHED, finished_at=now)
            backfill.status, backfill.finished_at = BackfillStatus.FINISHED, now
            batch.events.append({"event": events.BACKFILL_FINISHED, **_fields(backfill, schedule.name)})
            logger.info(
                "backfill %s of %s finished: %d created", backfill.pk, schedule.name, backfill.created,
                extra={"event": events.BACKFILL_FINISHED, "schedule_id": schedule.pk},
            )  # fmt: skip
    return batch


def _create(backfill: Backfill, schedule: Schedule, times: Sequence[datetime], *, now: datetime, batch: _Batch) -> int:
    """Insert the occurrences of ``times`` (existing ones are left alone) and the runs of those dispatched."""
    attached = [calendar.spec() for calendar in schedule.calendars.all()]
    base: dict[str, Any] | None = None
    rows: list[backfill_store.Row] = []
    planned: dict[datetime, PlannedRun] = {}
    for moment in times:
        excluded = calendars.excluded_by(attached, moment)
        if excluded is not None:
            rows.append(
                backfill_store.Row(
                    scheduled_for=moment, status=OccurrenceStatus.SKIPPED, reason=calendars.reason(excluded)
                )
            )
        elif backfill.overlap_policy == OverlapPolicy.ALLOW:
            if base is None:
                job, directive = JobSettings.of(schedule.job), DirectiveRef.of(schedule.directive)
                base = base_snapshot(job, directive, schedule.params or {})
            ref = schedule_ref(
                schedule_id=schedule.pk, name=schedule.name, tenant=schedule.tenant, scheduled_for=moment,
                max_concurrency=schedule.max_concurrency, overlap_policy=backfill.overlap_policy,
                deadline_seconds=schedule.deadline_seconds,
            )  # fmt: skip
            run = plan_run(job_id=schedule.job_id, base=base, schedule=ref, trigger=RunTrigger.BACKFILL, now=now)
            planned[moment] = run
            rows.append(backfill_store.Row(scheduled_for=moment, status=OccurrenceStatus.DISPATCHED, run_id=run.id))
        else:
            rows.append(backfill_store.Row(scheduled_for=moment, status=OccurrenceStatus.BUFFERED))
    inserted = backfill_store.insert(schedule.pk, backfill.pk, rows, now=now)
    batch.runs, batch.traces = tracing.begin([run for moment, run in planned.items() if moment in inserted], now=now)
    insert_runs(batch.runs)
    for row in rows:
        if row.status == OccurrenceStatus.SKIPPED and row.scheduled_for in inserted:
            batch.events.append(
                {
                    "event": events.RUN_SKIPPED, "schedule": schedule.name, "schedule_id": schedule.pk,
                    "scheduled_for": events.utc_stamp(row.scheduled_for), "job": schedule.job.key,
                    "trigger": RunTrigger.BACKFILL, "reason": row.reason, "backfill_id": backfill.pk,
                }
            )  # fmt: skip
    if len(inserted) < len(rows):
        logger.debug("backfill %s: %d fire time(s) already had an occurrence", backfill.pk, len(rows) - len(inserted))
    return len(inserted)


def _unfinished(backfill: Backfill) -> Any:
    """Its occurrences still to run: buffered, or with a run not yet ended (both found by partial indexes)."""
    mine = ScheduledRun.objects.filter(schedule_id=backfill.schedule_id, backfill=backfill)
    return mine.filter(Q(status=OccurrenceStatus.BUFFERED) | Q(run_active=True, run__status__in=ACTIVE_STATUSES))


def cancel(backfill: Backfill, *, by: str, now: datetime) -> Backfill:
    """Cancel a running backfill: buffered occurrences → skipped, runs not yet started → cancelled.

    Runs already running finish; what ran stays. Raises ``BackfillStateError`` when it no longer runs.
    """
    with transaction.atomic():
        row = Backfill.objects.select_for_update(of=("self",)).select_related("schedule").filter(pk=backfill.pk).first()
        if row is None:
            raise RowDeletedError("backfill", backfill.pk)
        if row.status != BackfillStatus.RUNNING:
            raise BackfillStateError(row.pk, row.status, "cancel")
        Backfill.objects.filter(pk=row.pk).update(status=BackfillStatus.CANCELLED, finished_at=now, cursor=None)
        row.status, row.finished_at, row.cursor = BackfillStatus.CANCELLED, now, None
        mine = ScheduledRun.objects.filter(schedule_id=row.schedule_id, backfill=row)
        skipped = mine.filter(status=OccurrenceStatus.BUFFERED).update(
            status=OccurrenceStatus.SKIPPED, reason=CANCELLED_REASON
        )
        waiting = mine.filter(run__status__in=(RunStatus.PENDING, RunStatus.QUEUED)).values_list("run_id", flat=True)
        cancelled = cancel_runs(list(waiting), reason=CANCELLED_REASON, now=now)
        event = {
            "event": events.BACKFILL_FINISHED, **_fields(row, row.schedule.name), "by": by,
            "skipped": skipped, "cancelled_runs": len(cancelled),
        }  # fmt: skip
        transaction.on_commit(lambda: events.emit([event]))
    logger.info(
        "backfill %s cancelled by %s: %d skipped, %d runs cancelled", row.pk, by, skipped, len(cancelled),
        extra={"event": events.BACKFILL_FINISHED, "schedule_id": row.schedule_id},
    )  # fmt: skip
    return row


def _fields(backfill: Backfill, schedule_name: str) -> dict[str, Any]:
    return {
        "schedule": schedule_name,
        "schedule_id": backfill.schedule_id,
        "backfill_id": backfill.pk,
        "start": events.utc_stamp(backfill.start),
        "end": events.utc_stamp(backfill.end),
        "overlap_policy": backfill.overlap_policy,
        "status": backfill.status,
        "count": backfill.count,
        "created": backfill.created,
        "trigger": RunTrigger.BACKFILL,
    }
