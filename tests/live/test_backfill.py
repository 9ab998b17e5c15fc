"""A backfill with two real beats and a real worker: each fire time runs exactly once, one after another."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from django.utils import timezone

from orchestrator import events
from orchestrator.models import Run
from scheduling.engine import backfills
from scheduling.models import Backfill, ScheduledRun
from tests import factories
from tests.helpers import QUICK, wait_ready
from tests.processes import wait_until

FINAL = ("succeeded", "failed", "timed_out", "cancelled")


def test_two_beats_fill_a_backfill_of_ten_once_each_one_after_another(live, redis_db):
    beat_env = {**QUICK, "SCHEDULER_BACKFILL_BATCH": "3"}  # several batches, made by whichever beat locks first
    wait_ready(live.worker(concurrency=4, env=QUICK))
    wait_ready(live.beat("beat-a", env=beat_env))
    wait_ready(live.beat("beat-b", env=beat_env))
    # Once a year at 03:00 on 1 January: nothing of its own fires during the test.
    schedule = factories.schedule(
        "probe", name="yearly", kind="cron", cron="0 3 1 1 *", params={"key": "backfill-live", "seconds": 0.3}
    )
    backfill = backfills.request(
        schedule,
        start=datetime(2015, 1, 1, tzinfo=UTC),
        end=datetime(2025, 1, 1, tzinfo=UTC),
        by="live-test",
        now=timezone.now(),
    )
    assert backfill.count == 10
    wait_until(
        lambda: Backfill.objects.filter(pk=backfill.pk, status="finished").exists(),
        timeout=90,
        message="the backfill to finish",
    )

    rows = list(ScheduledRun.objects.filter(backfill=backfill).select_related("run").order_by("scheduled_for"))
    assert [row.scheduled_for.year for row in rows] == list(range(2015, 2025))
    assert {(row.status, row.trigger) for row in rows} == {("dispatched", "backfill")}
    runs = [row.run for row in rows]
    assert all(run is not None and run.trigger == "backfill" and run.status == "succeeded" for run in runs)
    started = Counter(e["run_id"] for e in events.iter_events() if e.get("event") == "run_started")
    assert all(started[str(run.id)] == 1 for run in runs), "each run executed exactly once"
    assert not Run.objects.filter(directive_snapshot__schedule__id=schedule.pk).exclude(status__in=FINAL).exists()
    assert int(redis_db.get("backfill-live:peak")) == 1, "one after another: never two at once"
    starts = [run.started_at for run in runs]
    assert starts == sorted(starts), "oldest fire time first"
    finished = [
        e for e in events.iter_events() if e.get("event") == "backfill_finished" and e.get("backfill_id") == backfill.pk
    ]
    assert len(finished) == 1 and finished[0]["created"] == 10, "one beat finished it, once"
