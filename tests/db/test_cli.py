"""``manage.py schedules``, ``manage.py run_now`` and ``celery -A project schedules`` on PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from orchestrator.models import Run
from scheduling.models import OccurrenceStatus, Schedule, ScheduledRun
from tests import factories


def _call(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def _known_schedules() -> tuple[Schedule, Schedule, Schedule]:
    nightly = factories.schedule(
        name="nightly", kind="cron", cron="30 2 * * *", timezone="Europe/Berlin", overlap_policy="buffer_one"
    )
    run = Run.objects.create(job=nightly.job, trigger="schedule", status="failed", created_at=timezone.now())
    ScheduledRun.objects.create(
        schedule=nightly,
        scheduled_for=datetime(2030, 1, 1, 1, 30, tzinfo=UTC),
        status=OccurrenceStatus.DISPATCHED,
        run=run,
    )
    skipper = factories.schedule(name="skipper", kind="interval", interval_seconds=600, tenant="t2")
    ScheduledRun.objects.create(
        schedule=skipper, scheduled_for=datetime(2030, 1, 1, tzinfo=UTC), status=OccurrenceStatus.SKIPPED
    )
    off = factories.schedule(name="off", kind="cron", cron="0 0 1 1 *", enabled=False)
    # Due now: the beat is not running in these tests, so it stays due.
    Schedule.objects.filter(pk=skipper.pk).update(due_at=timezone.now() - timedelta(seconds=5))
    return nightly, skipper, off


@pytest.mark.django_db
def test_schedules_lists_next_run_last_status_and_policy():
    _known_schedules()
    lines = _call("schedules").strip().splitlines()
    assert lines[0].split() == [
        "NAME", "JOB", "TIMING", "STATE", "NEXT", "RUN", "(UTC)", "LAST", "STATUS", "POLICY", "RUNS", "LEFT",
        "FAILURES", "DEADLINE", "CALENDARS", "OVERDUE", "PAUSED"
    ]  # fmt: skip
    by_name = {line.split()[0]: line for line in lines[1:]}
    assert list(by_name) == ["nightly", "off", "skipper"]
    assert "cron 30 2 * * * (Europe/Berlin)" in by_name["nightly"] and " failed " in by_name["nightly"]
    assert "overlap=buffer_one misfire=run_once" in by_name["nightly"]
    assert "disabled  -" in by_name["off"] and by_name["off"].split()[-9] == "-"
    assert "every 600s" in by_name["skipper"] and " skipped " in by_name["skipper"] and "(in " in by_name["skipper"]

    rows = json.loads(_call("schedules", "--json"))
    assert [row["name"] for row in rows] == ["nightly", "off", "skipper"]
    assert rows[0]["last_status"] == "failed" and rows[0]["next_run_at"].endswith("Z")
    assert [row["name"] for row in json.loads(_call("schedules", "--json", "--due"))] == ["skipper"]
    assert [row["name"] for row in json.loads(_call("schedules", "--json", "--tenant", "t2"))] == ["skipper"]


@pytest.mark.django_db(transaction=True)
def test_run_now_command_queues_a_manual_run(redis_db):
    schedule = factories.schedule(name="by-hand", kind="cron", cron="0 3 1 1 *", enabled=False)
    out = _call("run_now", "by-hand")
    run = Run.objects.get(occurrence__schedule=schedule)
    assert out.strip() == (
        f"run {run.pk} of by-hand queued on default (the schedule is disabled; running it on purpose)"
    )
    assert run.trigger == "manual" and run.status == "queued"
    with pytest.raises(CommandError, match="no schedule named 'nope'"):
        _call("run_now", "nope")
