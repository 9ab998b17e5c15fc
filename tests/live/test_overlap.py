"""Overlap policies with a job that runs longer than its schedule's period, on a real beat and workers."""

from __future__ import annotations

import time
from datetime import datetime

from orchestrator import events
from orchestrator.models import Run
from scheduling.models import Schedule, ScheduledRun
from tests import factories
from tests.helpers import wait_ready
from tests.processes import wait_until

POLICIES = ("skip", "allow", "buffer_one", "buffer_all", "replace")
FINAL = ("succeeded", "failed", "timed_out", "cancelled")


def overlap(runs: list[Run]) -> int:
    edges: list[tuple[datetime, int]] = []
    for run in runs:
        if run.started_at and run.finished_at:
            edges += [(run.started_at, 1), (run.finished_at, -1)]
    current = peak = 0
    for _, step in sorted(edges):
        current += step
        peak = max(peak, current)
    return peak


def test_each_overlap_policy_with_a_job_longer_than_its_period(live):
    wait_ready(live.worker(concurrency=8))
    wait_ready(live.beat())
    schedules = {
        policy: factories.schedule(
            "probe",
            name=f"overlap-{policy}",
            interval_seconds=1,
            overlap_policy=policy,
            params={"key": f"overlap-{policy}", "seconds": 1.5},
        )
        for policy in POLICIES
    }
    time.sleep(7)
    Schedule.objects.filter(pk__in=[s.pk for s in schedules.values()]).set_enabled(False)
    time.sleep(1)  # the beat sees the change within a tick
    wait_until(
        lambda: (
            not ScheduledRun.objects.filter(status="buffered").exists()
            and not Run.objects.exclude(status__in=FINAL).exists()
        ),
        timeout=60,
        message="every occurrence to be handled and every run to end",
    )

    by_policy = {}
    for policy, schedule in schedules.items():
        occurrences = list(ScheduledRun.objects.filter(schedule=schedule).order_by("scheduled_for"))
        runs = [o.run for o in occurrences if o.run is not None]
        by_policy[policy] = (occurrences, runs)
        statuses = [o.status for o in occurrences]
        print(f"\n{policy:<11} occurrences {len(occurrences)}: " + " ".join(s[:4] for s in statuses))
        assert len(occurrences) >= 5, policy

    occurrences, runs = by_policy["skip"]
    skipped = [o for o in occurrences if o.status == "skipped"]
    assert skipped and all("still active (overlap policy skip)" in o.reason for o in skipped)
    assert overlap(runs) == 1
    assert {r.status for r in runs} == {"succeeded"}

    occurrences, runs = by_policy["allow"]
    assert all(o.status == "dispatched" for o in occurrences)
    assert overlap(runs) >= 2, "allow lets runs of one schedule overlap"

    occurrences, runs = by_policy["buffer_one"]
    assert {o.status for o in occurrences} == {"dispatched", "skipped"}
    assert all("already waiting" in o.reason for o in occurrences if o.status == "skipped")
    buffered_events = [
        e for e in events.iter_events() if e["event"] == "run_buffered" and e["schedule"] == "overlap-buffer_one"
    ]
    assert buffered_events, "a buffered occurrence was recorded"
    assert {e["scheduled_for"] for e in buffered_events} <= {
        events.utc_stamp(o.scheduled_for) for o in occurrences if o.status == "dispatched"
    }
    assert overlap(runs) == 1
    assert {r.status for r in runs} == {"succeeded"}

    occurrences, runs = by_policy["buffer_all"]
    assert all(o.status == "dispatched" for o in occurrences), "buffer_all runs every occurrence"
    assert overlap(runs) == 1
    started = [r.started_at for r in sorted(runs, key=lambda r: r.occurrence.scheduled_for)]
    assert started == sorted(started), "buffered occurrences run in order"

    occurrences, runs = by_policy["replace"]
    assert all(o.status == "dispatched" for o in occurrences)
    cancelled = [r for r in runs if r.status == "cancelled"]
    assert cancelled and all(r.error == "replaced by a newer occurrence" for r in cancelled)
    assert runs[-1].status == "succeeded", "the last one is not replaced"
    cancelled_events = {e["run_id"] for e in events.iter_events() if e["event"] == "run_cancelled"}
    assert {str(r.id) for r in cancelled} <= cancelled_events
