"""``manage.py schedules``, ``manage.py run_now`` and ``celery -A project schedules`` on PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

from django.utils import timezone

from orchestrator.models import Run
from scheduling.models import OccurrenceStatus, Schedule, ScheduledRun
from tests import factories
from tests.processes import ROOT


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


def _celery(live_env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "celery", "-A", "project", "schedules", *args],
        cwd=ROOT,
        env=live_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_celery_subcommand_lists_due_and_next(live):
    _known_schedules()
    listed = _celery(live.env, "list")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.strip().splitlines()
    assert lines[0].startswith("NAME") and [line.split()[0] for line in lines[1:]] == ["nightly", "off", "skipper"]
    assert " failed " in lines[1] and "overlap=buffer_one" in lines[1]

    due = _celery(live.env, "due", "--json")
    assert due.returncode == 0, due.stderr
    assert [row["name"] for row in json.loads(due.stdout)] == ["skipper"]

    following = _celery(live.env, "next", "nightly", "--count", "3")
    assert following.returncode == 0, following.stderr
    out = following.stdout.strip().splitlines()
    assert out[0] == "nightly: cron 30 2 * * * (Europe/Berlin)"
    assert len(out) == 4 and all("T" in line and "Europe/Berlin" in line for line in out[1:])
    assert all("02:30:00+0" in line for line in out[1:]), out

    missing = _celery(live.env, "next", "nope")
    assert missing.returncode != 0 and "no schedule named 'nope'" in missing.stderr

    helped = _celery(live.env, "--help")
    assert "list" in helped.stdout and "due" in helped.stdout and "next" in helped.stdout
