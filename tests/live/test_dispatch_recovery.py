"""The dispatch step against real PostgreSQL and Redis, in-process with a fixed clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from orchestrator.models import Run
from scheduling.engine.maintenance import maintain
from scheduling.models import Schedule
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)

NOW = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)


def test_publish_failure_leaves_runs_pending_for_recovery(live, settings, redis_db):
    schedule = factories.schedule("noop", interval_seconds=60)
    Schedule.objects.filter(pk=schedule.pk).update(next_run_at=NOW, due_at=NOW)
    output = live.run_manage("scheduler", "--once", env={"REDIS_URL": "redis://127.0.0.1:1/0"})  # no broker there
    assert "1 dispatched" in output and "0 published" in output
    [run] = Run.objects.all()
    assert run.status == "pending"
    assert redis_db.llen("default") == 0
    later = run.publish_after + timedelta(seconds=1)
    maintenance = maintain(later)
    assert [r.id for r in maintenance.recovered] == [run.id]
    run.refresh_from_db()
    assert run.status == "queued" and redis_db.llen("default") == 1
