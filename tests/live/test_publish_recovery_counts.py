"""A publish the broker refuses, then recovery: the append-only log tells it in three lines
(``schedule_enqueued``, ``run_publish_failed``, ``schedule_enqueued`` with ``recovered``), and
``manage.py events index`` and the dispatch-lag metric count the occurrence once."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command

from orchestrator import events
from orchestrator.models import Run
from scheduling.engine.maintenance import maintain
from scheduling.models import Schedule
from scheduling.ops import metrics
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)

REFUSING_BROKER = {"REDIS_URL": "redis://127.0.0.1:1/0"}  # nothing listens on port 1


def _refused_then_recovered(live, redis_db, queue: str, *, check_between=None) -> Run:
    """A real beat tick (a subprocess) whose publish the broker refuses, then this process's recovery."""
    factories.job("noop", queue=queue)  # a queue of its own: the metrics folder is shared by the session
    # Hourly: the fire time after the one just past is an hour away. With a minute, a slow start of
    # the beat subprocess could cross it, and the beat then rightly missed the older one (run_once).
    schedule = factories.schedule("noop", interval_seconds=3600)
    due = schedule.next_run_at - timedelta(seconds=3600)  # the fire time just past
    Schedule.objects.filter(pk=schedule.pk).update(next_run_at=due, due_at=due)
    output = live.run_manage("scheduler", "--once", env=REFUSING_BROKER)
    assert "1 dispatched" in output and "0 published" in output, output
    [run] = Run.objects.all()
    assert run.status == "pending"
    if check_between is not None:
        check_between(run)
    maintenance = maintain(run.publish_after + timedelta(seconds=1))
    assert [recovered.id for recovered in maintenance.recovered] == [run.id]
    assert redis_db.llen(queue) == 1, "published once, by recovery"
    return run


def _index(*args: str) -> str:
    out = StringIO()
    call_command("events", "index", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_events_index_counts_a_run_announced_again_after_a_failed_publish_once(live, redis_db):
    run = _refused_then_recovered(live, redis_db, f"q-{uuid.uuid4().hex[:8]}")
    written = [event for event in events.iter_events() if event.get("run_id") == str(run.id)]
    assert [(e["event"], e.get("recovered")) for e in written] == [
        ("schedule_enqueued", None),
        ("run_publish_failed", None),
        ("schedule_enqueued", True),
    ], "the log keeps every line (append-only)"

    by_event = json.loads(_index("event", "--json"))
    assert [e.get("recovered") for e in by_event["schedule_enqueued"]] == [True]
    assert len(by_event["run_publish_failed"]) == 1
    [header, row] = _index("schedule").strip().splitlines()
    assert header.split()[:2] == ["SCHEDULE", "EVENTS"]
    assert row.split()[:3] == [run.directive_snapshot["schedule"]["name"], "2", "schedule_enqueued"]


def _lag(queue: str) -> tuple[float, float]:
    """The dispatch-lag histogram's count and sum for ``queue``, across every process's metrics files."""
    found = {
        sample.name: sample.value
        for family in metrics.registry_for("process").collect()
        for sample in family.samples
        if sample.labels.get("queue") == queue and sample.name.endswith(("_count", "_sum"))
    }
    return found.get("ostinato_dispatch_lag_seconds_count", 0.0), found.get("ostinato_dispatch_lag_seconds_sum", 0.0)


def test_the_dispatch_lag_counts_an_occurrence_once_when_recovery_publishes_its_run(live, redis_db):
    queue = f"q-{uuid.uuid4().hex[:8]}"

    def nothing_counted_yet(run: Run) -> None:
        assert _lag(queue) == (0.0, 0.0), "the tick published nothing: no lag to count yet"

    run = _refused_then_recovered(live, redis_db, queue, check_between=nothing_counted_yet)
    count, total = _lag(queue)
    scheduled_for = Run.objects.get(id=run.id).occurrence.scheduled_for
    assert count == 1
    assert total >= (run.publish_after + timedelta(seconds=1) - scheduled_for).total_seconds(), "to recovery's publish"
