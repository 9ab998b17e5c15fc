"""Pruning a long history: each batch reads about what it deletes, never a busy schedule's whole history.

The bench (``./scripts/bench --only history``) measures the rate; these tests pin the shape of the
SQL that makes it possible, and that the outcome is the same as before.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from orchestrator import retention
from orchestrator.models import Run
from scheduling.models import OccurrenceStatus, ScheduledRun
from scheduling.ops import retention as schedule_retention
from tests import factories


def _history(schedule, count: int, *, days_old: float) -> list[Run]:
    runs = []
    for index in range(count):
        created = timezone.now() - timedelta(days=days_old, minutes=index)
        run = factories.run_row("noop", trigger="schedule", now=created, status="succeeded")
        ScheduledRun.objects.create(
            schedule=schedule,
            scheduled_for=created,
            status=OccurrenceStatus.DISPATCHED,
            run=run,
            dispatched_at=created,
            created_at=created,
        )
        runs.append(run)
    return runs


def test_the_newest_of_each_schedule_are_kept_by_a_mark_looked_up_once_per_schedule(db):
    busy = factories.schedule("noop", kind="cron", cron="* * * * *")
    quiet = factories.schedule("noop", kind="cron", cron="0 3 * * *")
    busy_runs = _history(busy, 12, days_old=40)  # newest first
    quiet_runs = _history(quiet, 2, days_old=50)
    with CaptureQueriesContext(connection) as queries:
        report = retention.prune_runs(
            older_than=timezone.now() - timedelta(days=30),
            dry_run=False,
            batch_size=4,
            policy=schedule_retention.policy(keep=5),
        )
    left = set(Run.objects.values_list("id", flat=True))
    assert left == {run.id for run in busy_runs[:5]} | {run.id for run in quiet_runs}
    assert report.runs == 7 and report.kept == 7
    statements = [query["sql"].upper() for query in queries.captured_queries]
    assert not any("ROW_NUMBER" in sql for sql in statements), "a window over every run of the batch's schedules"
    marks = [sql for sql in statements if "LIMIT 1 OFFSET 4" in sql]
    assert len(marks) == 1, "each schedule's fifth newest run is looked up once per prune, not once per batch"
    reads = [s for s in statements if s.startswith('SELECT "ORCHESTRATOR_RUN"."ID"') and 'FROM "ORCHESTRATOR_RUN"' in s]
    assert reads and all("FOR UPDATE" in sql for sql in reads), "the delete reads no runs (Django's collector did)"


def test_each_batch_of_runs_starts_at_the_last_one_by_an_index_bound(db):
    schedule = factories.schedule("noop", kind="cron", cron="* * * * *")
    _history(schedule, 6, days_old=40)
    with CaptureQueriesContext(connection) as queries:
        retention.prune_runs(older_than=timezone.now() - timedelta(days=30), dry_run=False, batch_size=2)
    pages = [q["sql"] for q in queries.captured_queries if q["sql"].endswith("ORDER BY 1 ASC, 2 ASC LIMIT 2")]
    assert len(pages) == 4  # three batches and the empty look that ends it
    assert all('"orchestrator_run"."created_at" >= ' in sql for sql in pages[1:])
    assert Run.objects.count() == 0


def test_occurrences_without_a_run_go_in_primary_key_batches_past_the_last(db):
    schedule = factories.schedule("noop", kind="cron", cron="* * * * *")
    old = timezone.now() - timedelta(days=40)
    for index in range(5):
        ScheduledRun.objects.create(
            schedule=schedule,
            scheduled_for=old + timedelta(minutes=index),
            status=OccurrenceStatus.SKIPPED,
            created_at=old,
        )
    with CaptureQueriesContext(connection) as queries:
        deleted = schedule_retention.prune_occurrences(
            older_than=timezone.now() - timedelta(days=30), dry_run=False, batch_size=2
        )
    assert deleted == 5 and ScheduledRun.objects.count() == 0
    looks = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("SELECT") and "LIMIT 2" in q["sql"]]
    assert len(looks) == 4
    assert all('"scheduling_scheduledrun"."id" > ' in sql for sql in looks)
