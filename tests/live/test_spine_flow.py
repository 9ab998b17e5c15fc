"""The spine end to end, on PostgreSQL and Redis, with real celery beat and worker processes."""

from __future__ import annotations

import hashlib
import itertools
import json
import time
from collections import Counter, defaultdict
from datetime import timedelta
from pathlib import Path

from django.conf import settings

from orchestrator import events
from orchestrator.models import Run, RunArtifact
from scheduling.models import OccurrenceStatus, Schedule, ScheduledRun
from scheduling.surfaces.actions import run_now
from tests import factories
from tests.helpers import wait_ready, wait_recorded
from tests.processes import wait_until

FINAL = ("succeeded", "failed", "timed_out", "cancelled")


def _events_by_run() -> dict[str, list[dict]]:
    grouped: dict[str, list[dict]] = defaultdict(list)
    for event in events.iter_events(settings.EVENTS_PATH):
        if event.get("run_id"):
            grouped[event["run_id"]].append(event)
    return grouped


def test_interval_schedule_runs_every_occurrence_exactly_once(live):
    worker = live.worker(concurrency=2)
    wait_ready(worker)
    beat = live.beat()
    wait_ready(beat)
    schedule = factories.schedule("noop", interval_seconds=1)  # after the beat started: nothing to catch up

    wait_until(lambda: Run.objects.filter(status="succeeded").count() >= 6, timeout=30, message="6 runs")
    beat.stop()
    wait_until(lambda: not Run.objects.exclude(status__in=FINAL).exists(), timeout=20, message="every run to finish")

    occurrences = list(ScheduledRun.objects.filter(schedule=schedule).order_by("scheduled_for"))
    times = [o.scheduled_for for o in occurrences if o.scheduled_for is not None]
    assert len(times) == len(set(times)) >= 6
    gaps = {later - earlier for earlier, later in itertools.pairwise(times)}
    assert gaps == {timedelta(seconds=1)}, f"occurrences are not consecutive seconds: {times}"
    assert all(o.status == OccurrenceStatus.DISPATCHED and o.run_id for o in occurrences)
    runs = Run.objects.filter(occurrence__schedule=schedule)
    assert set(runs.values_list("status", flat=True)) == {"succeeded"}
    assert all(r.trigger == "schedule" and r.worker and r.started_at and r.finished_at for r in runs)

    for run in runs:
        wait_recorded(run)  # its run_finished follows its committed end
    by_run = _events_by_run()
    for run in runs:
        names = [e["event"] for e in by_run[str(run.id)]]
        assert names == ["schedule_enqueued", "run_started", "run_finished"], (run.id, names)
        finished = by_run[str(run.id)][-1]
        assert finished["status"] == "succeeded"
        assert finished["schedule"] == schedule.name
        assert finished["scheduled_for"] == events.utc_stamp(run.occurrence.scheduled_for)
    started = Counter(e["run_id"] for events_ in by_run.values() for e in events_ if e["event"] == "run_started")
    assert set(started.values()) == {1}, "a run was executed more than once"


def test_failing_job_ends_failed_with_its_error(live):
    schedule = factories.schedule("fail", interval_seconds=1, params={"message": "disk on fire"})
    wait_ready(live.worker())
    wait_ready(live.beat())
    run = wait_until(
        lambda: Run.objects.filter(occurrence__schedule=schedule, status="failed").first(),
        timeout=30,
        message="a failed run",
    )
    assert run.error.startswith("JobFailed: disk on fire")
    assert "Traceback" in run.error
    finished = [e for e in wait_recorded(run) if e["event"] == "run_finished"]
    assert finished and finished[0]["status"] == "failed" and "disk on fire" in finished[0]["error"]


def test_disabled_schedule_stops_producing_runs(live):
    schedule = factories.schedule("noop", interval_seconds=1)
    wait_ready(live.worker())
    wait_ready(live.beat())
    wait_until(lambda: ScheduledRun.objects.filter(schedule=schedule).count() >= 2, timeout=30, message="2 runs")
    Schedule.objects.filter(pk=schedule.pk).set_enabled(False)
    time.sleep(1.5)  # the beat sees the change within one tick
    count = ScheduledRun.objects.filter(schedule=schedule).count()
    time.sleep(3)
    assert ScheduledRun.objects.filter(schedule=schedule).count() == count


def test_run_now_goes_through_the_same_path_with_trigger_manual(live):
    schedule = factories.schedule("noop", kind="cron", cron="0 3 1 1 *", enabled=False)
    wait_ready(live.worker())
    run = run_now(schedule)
    done = wait_until(
        lambda: Run.objects.filter(pk=run.pk, status="succeeded").first(), timeout=30, message="the manual run"
    )
    assert done.trigger == "manual"
    occurrence = ScheduledRun.objects.get(run=done)
    assert occurrence.scheduled_for is None and "disabled" in occurrence.reason
    assert done.directive_snapshot["schedule"]["name"] == schedule.name
    names = [e["event"] for e in _events_by_run()[str(run.id)]]
    assert names == ["schedule_enqueued", "run_started", "run_finished"]
    schedule.refresh_from_db()
    assert schedule.last_run_at is None, "run now must not shift the schedule's cadence"


def test_log_triage_run_leaves_its_two_artifacts(live, tmp_path: Path):
    log = tmp_path / "app.log"
    log.write_text(
        "2026-11-23 10:00:00 INFO started\n"
        "2026-11-23 10:00:01 ERROR timeout after 31s talking to 10.0.0.7\n"
        "2026-11-23 10:00:02 ERROR timeout after 30s talking to 10.0.0.9\n"
        "2026-11-23 10:00:03 WARNING slow query\n"
        "2026-11-23 10:00:04 ERROR disk full\n"
    )
    schedule = factories.schedule("log_triage", kind="cron", cron="0 3 1 1 *", params={"path": str(log)})
    wait_ready(live.worker())
    run = run_now(schedule)
    done = wait_until(
        lambda: Run.objects.filter(pk=run.pk).exclude(status__in=("pending", "queued", "running")).first(),
        timeout=30,
        message="the log_triage run",
    )
    assert done.status == "succeeded", done.error
    artifacts = {a.name: a for a in RunArtifact.objects.filter(run=done)}
    assert set(artifacts) == {"triage.json", "triage.md"}
    report_path = Path(settings.ARTIFACTS_DIR) / artifacts["triage.json"].path
    report = json.loads(report_path.read_text())
    assert report["by_level"]["ERROR"] == 3 and report["by_level"]["INFO"] == 1
    assert report["top_errors"][0]["count"] == 2
    assert hashlib.sha256(report_path.read_bytes()).hexdigest() == artifacts["triage.json"].sha256
    markdown = (Path(settings.ARTIFACTS_DIR) / artifacts["triage.md"].path).read_text()
    assert "| ERROR | 3 |" in markdown


def test_a_running_beat_uses_an_edit_without_reloading_anything(live):
    wait_ready(live.worker())
    wait_ready(live.beat())
    schedule = factories.schedule("noop", kind="cron", cron="0 0 1 1 *")  # next January
    time.sleep(1)
    assert not ScheduledRun.objects.filter(schedule=schedule).exists()
    edited_at = time.monotonic()
    schedule.kind, schedule.interval_seconds = "interval", 1
    schedule.save()  # recomputes next_run_at in the same transaction; the beat reads it on its next tick
    first = wait_until(
        lambda: ScheduledRun.objects.filter(schedule=schedule).first(),
        timeout=10,
        message="the edited schedule to fire",
    )
    print(f"\nedit picked up: first occurrence dispatched {time.monotonic() - edited_at:.2f}s after the save")
    assert first.status == "dispatched"
