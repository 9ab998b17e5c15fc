"""The dispatch-lag histogram counts an occurrence once, when its run is published (no database):
not by a tick whose publish the broker refused, but by the recovery that publishes it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from orchestrator.models import Run
from scheduling.core.policies import Action
from scheduling.engine.reports import Handled, MaintenanceReport, TickReport
from scheduling.ops import metrics, observe

SCHEDULED = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def _count_and_sum(queue: str) -> tuple[float, float]:
    found = {
        sample.name: sample.value
        for family in metrics.DISPATCH_LAG.collect()
        for sample in family.samples
        if sample.labels.get("queue") == queue
    }
    return found.get("ostinato_dispatch_lag_seconds_count", 0.0), found.get("ostinato_dispatch_lag_seconds_sum", 0.0)


def _run(queue: str, **fields) -> Run:
    snapshot = {
        "job": {"key": "noop", "queue": queue},
        "schedule": {"id": 1, "name": "s", "scheduled_for": "2026-11-24T09:00:00.000Z"},
    }
    return Run(id=uuid.uuid4(), trigger="schedule", directive_snapshot=snapshot, **fields)


def test_a_tick_leaves_the_occurrences_it_could_not_publish_uncounted():
    queue = f"lag-{uuid.uuid4().hex[:8]}"  # a label of its own: the histogram is process-wide
    refused, sent = uuid.uuid4(), uuid.uuid4()
    report = TickReport(
        started_at=SCHEDULED,
        published_at=SCHEDULED + timedelta(seconds=0.5),
        handled=[
            Handled(
                schedule_id=1, schedule="s", scheduled_for=SCHEDULED, action=Action.DISPATCH, run_id=rid, queue=queue
            )
            for rid in (refused, sent)
        ],
        unpublished={refused},
    )
    observe.observe_tick(report)
    count, total = _count_and_sum(queue)
    assert count == 1 and total == pytest.approx(0.5)


def test_recovery_counts_the_scheduled_runs_it_publishes_first_and_nothing_else():
    queue = f"lag-{uuid.uuid4().hex[:8]}"
    report = MaintenanceReport(
        recovered=[
            _run(queue),  # never queued: its tick's publish failed
            _run(queue, attempt=1),  # a retry: counted when its occurrence was dispatched
            _run(queue, queued_at=SCHEDULED),  # a lost message published again
            Run(id=uuid.uuid4(), trigger="manual", directive_snapshot={"job": {"queue": queue}}),  # no occurrence
        ],
        published_at=SCHEDULED + timedelta(seconds=42),
    )
    observe.observe_recovered(report)
    count, total = _count_and_sum(queue)
    assert count == 1 and total == pytest.approx(42.0)
