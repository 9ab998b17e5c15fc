"""Publishing committed runs: their messages go to the broker, their rows become ``queued``.

Every run is published here, whoever created it (the beat, run now, the API, recovery, a retry, a
run woken from a limit wait), and only after the transaction that created it committed: a worker
must never get a message for a row it cannot see yet.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol, TypeVar

from django.db import DatabaseError, transaction
from django.utils import timezone

from orchestrator import broker, events, snapshots, store, tracing
from orchestrator.errors import PublishError
from orchestrator.models import Run, RunStatus

logger = logging.getLogger(__name__)


class RunLike(Protocol):
    """What publishing needs of a run: a ``PlannedRun`` just built, or a ``Run`` row."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def trigger(self) -> str: ...
    @property
    def directive_snapshot(self) -> Any: ...
    @property
    def attempt(self) -> int: ...
    @property
    def traceparent(self) -> str: ...


R = TypeVar("R", bound=RunLike)


def run_event_fields(run: RunLike, snapshot: snapshots.RunSnapshot | None = None) -> dict[str, Any]:
    """The fields every event about ``run`` carries (``run_id``, ``job``, ``trigger``, its schedule's).

    ``snapshot``: the run's own, already read (it is read from ``run`` otherwise).
    """
    if snapshot is None:
        snapshot = snapshots.RunSnapshot.of(run.directive_snapshot)
    fields: dict[str, Any] = {"run_id": str(run.id), "job": snapshot.job.key, "trigger": run.trigger}
    schedule = snapshot.schedule
    if schedule is not None:
        fields["schedule"] = schedule.name
        fields["schedule_id"] = schedule.id
        if schedule.scheduled_for:
            fields["scheduled_for"] = schedule.scheduled_for
    return fields


def describe(run: RunLike, attempt: int) -> str:
    """How a run reads in ``celery inspect runs``: run id, job, schedule and time, trigger, attempt.

    ``attempt`` is the message's (the executions made before it, 0 for the first); the text shows
    the attempt's number as everywhere else (the run page, the API, the events): the first is 1.
    """
    snapshot = snapshots.RunSnapshot.of(run.directive_snapshot)
    parts = [f"run={run.id}", f"job={snapshot.job.key or '?'}"]
    if snapshot.schedule is not None:
        parts.append(f"schedule={snapshot.schedule.name!r}")
        if snapshot.schedule.scheduled_for:
            parts.append(f"scheduled_for={snapshot.schedule.scheduled_for}")
    parts.append(f"trigger={run.trigger}")
    parts.append(f"attempt={attempt + 1}")
    return "(" + ", ".join(parts) + ")"


def message_for(run: RunLike, *, attempt: int | None = None, traceparent: str = "") -> broker.RunMessage:
    """The broker message of ``run``'s attempt (default: the attempt it is at); ``traceparent``: its publish span."""
    snapshot = snapshots.RunSnapshot.of(run.directive_snapshot)
    attempt = run.attempt if attempt is None else attempt
    return broker.RunMessage(
        run_id=run.id,
        attempt=attempt,
        queue=snapshot.job.queue,
        task_id=broker.task_id_for(run.id, attempt),
        timeout_seconds=snapshot.job.timeout_seconds,
        label=describe(run, attempt),
        job_key=snapshot.job.key or "?",
        kind=snapshot.job.kind,
        traceparent=traceparent,
    )


def publish_runs(runs: Sequence[R], *, now: datetime, recovered: bool = False, announce: bool = True) -> list[R]:
    """Publish committed ``pending`` runs, mark them ``queued``, record ``schedule_enqueued``.

    Never call inside a transaction. The event is written just before the messages go out, so no
    worker's ``run_started`` can precede it; if the broker then refuses them, ``run_publish_failed``
    follows, the runs are ``pending`` again, and recovery publishes them later (its ``schedule_enqueued``
    carries ``recovered``). ``announce=False`` publishes without events (a retry or a run woken from
    a limit wait was announced before). Returns the runs published.

    The runs are marked ``queued`` before their messages go out, never after: a worker may take a
    message at once, claim its run and give it back (``pending``, waiting for a limit slot) before
    the publish returns, and a mark written after that turned the waiting run into a ``queued`` one
    with no message. Nothing published it again while an in-flight note of it stayed (a duplicate
    message dropped at the claim leaves its note): stuck for ``SCHEDULER_INFLIGHT_NOTE_SECONDS``.
    Marked first, every ``queued`` state is followed by a message that can claim it. A publisher
    that dies in between leaves a ``queued`` run without a note, which ``recovery.republish_lost``
    publishes after ``SCHEDULER_LOST_MESSAGE_SECONDS``.
    """
    if not runs:
        return []
    if transaction.get_connection().in_atomic_block:
        raise RuntimeError("publish_runs() must run after the transaction that created the runs commits")
    if announce:
        extra = {"recovered": True} if recovered else {}
        events.emit([{"event": events.SCHEDULE_ENQUEUED, **run_event_fields(run), **extra} for run in runs])
    if tracing.enabled():
        return _publish_traced(runs, now=now, recovered=recovered, announce=announce)
    store.mark_queued([run.id for run in runs], now=now)
    try:
        broker.publish([message_for(run) for run in runs])
    except PublishError as exc:
        _publish_failed(runs, exc, announce=announce, now=now)
        return []
    return list(runs)


def _publish_traced(runs: Sequence[R], *, now: datetime, recovered: bool, announce: bool) -> list[R]:
    """``publish_runs`` with a publish span per run, its context in the message (``orchestrator.tracing``)."""
    spans = tracing.publish_spans(runs, [run.traceparent for run in runs], recovered=recovered)
    messages = [
        message_for(run, traceparent=tracing.traceparent_of(span)) for run, span in zip(runs, spans, strict=True)
    ]
    store.mark_queued([run.id for run in runs], now=now)
    try:
        broker.publish(messages)
    except PublishError as exc:
        tracing.end_publish(spans, error=str(exc))
        _publish_failed(runs, exc, announce=announce, now=now)
        return []
    tracing.end_publish(spans)
    return list(runs)


def _publish_failed(runs: Sequence[RunLike], exc: PublishError, *, announce: bool, now: datetime) -> None:
    """The runs' messages may not have gone out: ``pending`` again (those still ``queued`` by this
    publish), for recovery; never queued before (``announce``), they are announced again by it."""
    try:
        store.unmark_queued([run.id for run in runs], now=now, forget_queued_at=announce)
    except DatabaseError as db_exc:  # left queued without a note: recovery.republish_lost publishes them
        logger.warning("could not put %d run(s) back to pending: %s", len(runs), db_exc)
    logger.warning("%s; they are pending again for recovery", exc, extra={"event": events.RUN_PUBLISH_FAILED})
    if announce:
        events.emit(
            [{"event": events.RUN_PUBLISH_FAILED, **run_event_fields(run), "error": str(exc)[:500]} for run in runs]
        )


def create_run(request: snapshots.RunRequest, *, now: datetime | None = None) -> Run:
    """Create, commit and publish one run (run now, the API); returns its row."""
    now = now or timezone.now()
    with transaction.atomic():
        run = snapshots.build_run(request, now=now)
        (run,), begun = tracing.begin([run], now=now, name="ostinato.create")
        store.insert_runs([run])
    publish_runs([run], now=now)
    begun.end()
    return Run.objects.get(id=run.id)


def publish_woken(run_ids: Sequence[uuid.UUID | str], *, now: datetime) -> list[Run]:
    """Publish runs woken from a limit wait (those still waiting; others are left alone)."""
    if not run_ids:
        return []
    runs = list(Run.objects.filter(id__in=list(run_ids), status=RunStatus.PENDING).select_related("job"))
    return publish_runs(runs, now=now, announce=False)
