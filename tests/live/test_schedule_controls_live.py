"""Schedule controls with two real beats and a worker: limited runs taken once each, a pause resumed once."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from django.utils import timezone

from orchestrator import events
from orchestrator.models import Run
from scheduling.engine import controls
from scheduling.models import Schedule, ScheduledRun
from tests import factories
from tests.helpers import QUICK, wait_ready
from tests.processes import wait_until


def test_two_beats_take_limited_runs_once_each_and_resume_a_paused_schedule_once(live):
    worker = live.worker(env=QUICK, concurrency=2)
    beats = [live.beat(f"beat-{i}", env=QUICK) for i in range(2)]
    for proc in (worker, *beats):
        wait_ready(proc)
    limited = factories.schedule("noop", interval_seconds=1, remaining_runs=3, overlap_policy="allow")
    paused = factories.schedule("noop", interval_seconds=1, misfire_policy="skip")
    controls.pause([paused.pk], note="waiting on the vendor", by="alice", until=timezone.now() + timedelta(seconds=2))

    wait_until(
        lambda: Run.objects.filter(occurrence__schedule=limited, status="succeeded").count() == 3,
        timeout=30,
        message="three runs of the limited schedule",
    )
    wait_until(
        lambda: Run.objects.filter(occurrence__schedule=paused, status="succeeded").count() >= 2,
        timeout=30,
        message="the paused schedule resumed and ran",
    )
    wait_until(lambda: Schedule.objects.get(pk=limited.pk).next_run_at is None, timeout=10)
    row = Schedule.objects.get(pk=limited.pk)
    assert row.remaining_runs == 0 and row.next_run_at is None
    assert ScheduledRun.objects.filter(schedule=limited, status="dispatched").count() == 3
    started = Counter(e["run_id"] for e in events.iter_events() if e.get("event") == "run_started")
    limited_runs = [str(r) for r in Run.objects.filter(occurrence__schedule=limited).values_list("id", flat=True)]
    assert len(limited_runs) == 3 and all(started[run_id] == 1 for run_id in limited_runs)

    resumed = [e for e in events.iter_events() if e.get("event") == "schedule_resumed"]
    assert len(resumed) == 1 and resumed[0]["by"] == "beat" and resumed[0]["note"] == "waiting on the vendor"
    again = Schedule.objects.get(pk=paused.pk)
    assert again.enabled and again.resume_at is None and again.pause_note == ""
    resumed_at = datetime.fromisoformat(resumed[0]["ts"].replace("Z", "+00:00"))
    dispatched = ScheduledRun.objects.filter(schedule=paused, status="dispatched").values_list(
        "dispatched_at", flat=True
    )
    assert dispatched and min(dispatched) >= resumed_at - timedelta(milliseconds=50), "nothing ran while paused"
