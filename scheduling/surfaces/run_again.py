"""A run started again (``orchestrator.rerun``) is recorded among its schedule's occurrences, as run now is.

Subscribed to ``orchestrator.hooks.run_again`` (``scheduling.apps``); called inside the
transaction that writes the new run. A schedule deleted since the original ran leaves the run
without an occurrence row (it still runs and still names its original).
"""

from __future__ import annotations

from django.db import transaction

from orchestrator.hooks import RunAgain
from scheduling.models import OccurrenceStatus, Schedule, ScheduledRun


def record_occurrence(again: RunAgain) -> None:
    if again.schedule_id is None or not Schedule.objects.filter(pk=again.schedule_id).exists():
        return
    with transaction.atomic():  # a savepoint: a refusal here never breaks the run's own transaction
        ScheduledRun.objects.create(
            schedule_id=again.schedule_id,
            scheduled_for=None,
            status=OccurrenceStatus.DISPATCHED,
            run_id=again.run_id,
            trigger=again.trigger,
            dispatched_at=again.now,
            reason=f"run again of {again.original_id} by {again.actor}"[:255],
            created_at=again.now,
            run_active=True,
        )
