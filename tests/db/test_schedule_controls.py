"""Pause and resume (by someone, by a beat at resume_at, by itself after failures), against real PostgreSQL."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from orchestrator.errors import ValidationError
from orchestrator.hooks import RunEnded, run_ended
from orchestrator.models import RunStatus
from scheduling.engine import controls, dispatch
from scheduling.engine.maintenance import maintain
from scheduling.models import Schedule, ScheduledRun
from tests import factories, records

pytestmark = pytest.mark.django_db(transaction=True)

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


@pytest.fixture
def event_log(settings, tmp_path: Path) -> Path:
    settings.EVENTS_PATH = tmp_path / "events.jsonl"
    return Path(settings.EVENTS_PATH)


def logged(path: Path, name: str) -> list[dict]:
    if not path.exists():
        return []
    return [e for e in map(json.loads, path.read_text().splitlines()) if e["event"] == name]


def test_a_paused_schedule_keeps_who_why_and_until_and_makes_no_occurrence(event_log, redis_db):
    schedule = factories.schedule("noop", interval_seconds=60)
    Schedule.objects.filter(pk=schedule.pk).update(next_run_at=NOW, due_at=NOW)
    until = NOW + timedelta(hours=2)
    assert controls.pause([schedule.pk], note="  db migration  ", by="alice", until=until, now=NOW) == 1
    assert controls.pause([schedule.pk], note="again", by="bob", now=NOW) == 0, "already paused: untouched"
    row = Schedule.objects.get(pk=schedule.pk)
    assert (row.enabled, row.pause_note, row.paused_by, row.paused_at, row.resume_at) == (
        False, "db migration", "alice", NOW, until,
    )  # fmt: skip
    assert row.paused
    assert dispatch.dispatch_due(NOW + timedelta(minutes=5)).claimed == 0
    [event] = logged(event_log, "schedule_paused")
    assert event["by"] == "alice" and event["note"] == "db migration" and event["resume_at"].startswith("2026-12-07T11")


@pytest.mark.parametrize(
    ("note", "until", "field"),
    [
        ("", None, "note"),
        ("   ", None, "note"),
        ("x", NOW - timedelta(seconds=1), "resume_at"),
        ("x", NOW, "resume_at"),
    ],
)
def test_a_pause_without_a_note_or_with_a_past_resume_time_is_refused(note, until, field):
    schedule = factories.schedule("noop", interval_seconds=60)
    with pytest.raises(ValidationError) as caught:
        controls.pause([schedule.pk], note=note, by="alice", until=until, now=NOW)
    assert field in caught.value.errors
    assert Schedule.objects.get(pk=schedule.pk).enabled, "nothing written"


def test_resume_keeps_the_cursor_so_the_misfire_policy_decides_what_fell_due_while_paused(event_log, redis_db):
    schedule = factories.schedule("noop", interval_seconds=60, misfire_policy="run_once", misfire_grace_seconds=86400)
    Schedule.objects.filter(pk=schedule.pk).update(next_run_at=NOW, due_at=NOW)
    controls.pause([schedule.pk], note="vendor outage", by="alice", now=NOW)
    later = NOW + timedelta(minutes=10, seconds=1)
    assert controls.resume([schedule.pk], by="bob", now=later) == 1
    row = Schedule.objects.get(pk=schedule.pk)
    assert row.enabled and not row.paused and row.pause_note == "" and row.next_run_at == NOW
    report = dispatch.dispatch_due(later)
    assert report.count("dispatch") == 1 and report.count("miss") == 10  # run_once: the latest runs
    [event] = logged(event_log, "schedule_resumed")
    assert event["by"] == "bob" and event["note"] == "vendor outage" and event["paused_by"] == "alice"


def test_each_schedule_due_to_resume_is_resumed_by_exactly_one_of_two_beats(event_log):
    rows = [factories.schedule("noop", interval_seconds=60) for _ in range(12)]
    controls.pause([r.pk for r in rows], note="freeze", by="alice", until=NOW + timedelta(minutes=1), now=NOW)
    barrier = threading.Barrier(2)
    resumed: list[int] = []

    def beat() -> None:
        barrier.wait()
        try:
            resumed.append(maintain(NOW + timedelta(minutes=1)).resumed)
        finally:
            connection.close()

    threads = [threading.Thread(target=beat) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sum(resumed) == 12
    assert Schedule.objects.filter(enabled=True, resume_at__isnull=True, pause_note="").count() == 12
    events = logged(event_log, "schedule_resumed")
    assert len(events) == 12 and {e["by"] for e in events} == {"beat"}
    assert {e["note"] for e in events} == {"freeze"}, "the note stays in the history"


def test_a_schedule_not_yet_at_its_resume_time_stays_paused():
    schedule = factories.schedule("noop", interval_seconds=60)
    controls.pause([schedule.pk], note="freeze", by="alice", until=NOW + timedelta(hours=1), now=NOW)
    assert maintain(NOW + timedelta(minutes=59)).resumed == 0
    assert Schedule.objects.get(pk=schedule.pk).paused


def end(run, status: str) -> None:
    run.status, run.finished_at = status, timezone.now()
    run.save(update_fields=["status", "finished_at"])
    run_ended.send(RunEnded(run_id=run.id, job_key=run.job.key, status=status, snapshot=run.directive_snapshot))


def test_the_schedule_pauses_itself_after_n_consecutive_failures_and_a_success_resets_the_count(event_log):
    schedule = factories.schedule("noop", interval_seconds=60, pause_after_failures=3)
    at = [NOW + timedelta(minutes=i) for i in range(8)]
    outcomes = [RunStatus.FAILED, RunStatus.TIMED_OUT, RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED]
    for moment, status in zip(at, outcomes, strict=False):
        end(records.run_for(schedule, status=RunStatus.RUNNING, scheduled_for=moment), status)
    row = Schedule.objects.get(pk=schedule.pk)
    assert row.failure_streak == 1 and row.enabled, "the success reset it; cancelled counts neither way"
    manual = records.run_for(schedule, status=RunStatus.RUNNING, trigger="manual")
    end(manual, RunStatus.FAILED)
    assert Schedule.objects.get(pk=schedule.pk).failure_streak == 1, "a manual run does not count"
    end(records.run_for(schedule, status=RunStatus.RUNNING, scheduled_for=at[5]), RunStatus.FAILED)
    last = records.run_for(schedule, status=RunStatus.RUNNING, scheduled_for=at[6])
    end(last, RunStatus.TIMED_OUT)
    row = Schedule.objects.get(pk=schedule.pk)
    assert not row.enabled and row.paused_by == "system" and row.failure_streak == 3
    assert row.pause_note.startswith("paused by itself after 3 consecutive failed or timed-out runs")
    assert str(last.id) in row.pause_note, "the note names the last failed runs"
    [event] = logged(event_log, "schedule_paused")
    assert event["by"] == "system" and event["reason"] == "3 consecutive failures"
    controls.resume([schedule.pk], by="alice")
    assert Schedule.objects.get(pk=schedule.pk).failure_streak == 0, "resuming starts the count again"


def test_pausing_itself_after_failures_writes_an_entry_in_the_audit_trail_and_the_admin_history(event_log):
    from django.contrib.auth.models import User
    from django.test import Client

    from orchestrator import audit

    schedule = factories.schedule("noop", interval_seconds=60, pause_after_failures=2)
    for minute in range(2):
        end(
            records.run_for(schedule, status=RunStatus.RUNNING, scheduled_for=NOW + timedelta(minutes=minute)), "failed"
        )
    row = Schedule.objects.get(pk=schedule.pk)
    assert row.paused and row.paused_by == "system"
    [entry] = audit.entries_for(row).filter(action="paused")
    assert entry.actor == "system" and entry.door == audit.BEAT
    assert entry.changes["enabled"] == {"before": True, "after": False}
    assert entry.changes["pause_note"]["after"] == row.pause_note
    assert entry.changes["paused_by"] == {"before": "", "after": "system"}
    admin = Client()
    admin.force_login(User.objects.create_superuser("root", password="root-password-1"))
    history = admin.get(f"/admin/scheduling/schedule/{row.pk}/history/").content.decode()
    assert "paused" in history and "system" in history and "paused by itself after 2 consecutive" in history


def test_without_a_threshold_failures_are_counted_but_never_pause():
    schedule = factories.schedule("noop", interval_seconds=60)
    for minute in range(4):
        end(
            records.run_for(schedule, status=RunStatus.RUNNING, scheduled_for=NOW + timedelta(minutes=minute)), "failed"
        )
    row = Schedule.objects.get(pk=schedule.pk)
    assert row.enabled and row.failure_streak == 4
    assert ScheduledRun.objects.filter(schedule=schedule).count() == 4
