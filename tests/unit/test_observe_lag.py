"""The dispatch-lag histogram counts to when a tick's runs were published, not to the tick's clock reading."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from scheduling.core.policies import Action
from scheduling.engine.reports import Handled, TickReport
from scheduling.ops import metrics, observe

MOMENT = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def _dispatched(queue: str, scheduled_for: datetime) -> Handled:
    return Handled(schedule_id=1, schedule="s", scheduled_for=scheduled_for, action=Action.DISPATCH, queue=queue)


def _count_and_sum(queue: str) -> tuple[float, float]:
    found = {
        sample.name: sample.value
        for family in metrics.DISPATCH_LAG.collect()
        for sample in family.samples
        if sample.labels.get("queue") == queue
    }
    return found["ostinato_dispatch_lag_seconds_count"], found["ostinato_dispatch_lag_seconds_sum"]


def test_a_burst_prepared_for_its_moment_shows_the_time_to_publish_it() -> None:
    queue = f"lag-{uuid.uuid4().hex[:8]}"  # a label of its own: the histogram is process-wide
    report = TickReport(
        started_at=MOMENT,  # a prepared burst's tick time is its moment: by it alone the lag would be 0
        published_at=MOMENT + timedelta(seconds=0.3),
        handled=[_dispatched(queue, MOMENT), _dispatched(queue, MOMENT - timedelta(seconds=1))],
    )
    observe.observe_tick(report)
    count, total = _count_and_sum(queue)
    assert count == 2 and total == pytest.approx(0.3 + 1.3)


def test_a_tick_that_published_nothing_counts_from_its_clock_reading() -> None:
    queue = f"lag-{uuid.uuid4().hex[:8]}"
    report = TickReport(started_at=MOMENT, handled=[_dispatched(queue, MOMENT - timedelta(seconds=2))])
    observe.observe_tick(report)
    count, total = _count_and_sum(queue)
    assert count == 1 and total == pytest.approx(2.0)
