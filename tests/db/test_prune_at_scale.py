"""Pruning a long history: each batch reads about what it deletes, never a busy schedule's whole history.

The bench (``./scripts/bench --only history``) measures the rate; these tests pin the shape of the
SQL that makes it possible, and that the outcome is the same as before.
"""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from orchestrator import db as orchestrator_db
from orchestrator import retention
from orchestrator.models import LLMCall, Run, RunArtifact
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
    deletes = [sql for sql in statements if "DELETE" in sql]
    assert len(deletes) == report.batches == 3, "each batch's runs and their rows go in one statement"


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


def _with_rows(run: Run, *, artifact_bytes: int) -> Run:
    RunArtifact.objects.create(run=run, name="out.txt", path="out.txt", size_bytes=artifact_bytes, sha256="0" * 64)
    LLMCall.objects.create(run=run, model="m", prompt_tokens=1, completion_tokens=1)
    return run


def test_a_batch_is_one_statement_that_deletes_its_runs_with_their_rows_and_counts_them(db):
    """The batch's lock, deletes and counts are one round trip with the run ids as one array, not a list each.

    Before: a ``SELECT … FOR UPDATE SKIP LOCKED``, a ``DELETE`` per relation, an ``UPDATE`` clearing
    the occurrences and two counts, each binding every run id as a placeholder of its own.
    """
    schedule = factories.schedule("noop", kind="cron", cron="* * * * *")
    runs = _history(schedule, 5, days_old=40)
    for index, run in enumerate(runs):
        _with_rows(run, artifact_bytes=100 + index)
    with CaptureQueriesContext(connection) as queries:
        report = retention.prune_runs(
            older_than=timezone.now() - timedelta(days=30),
            dry_run=False,
            batch_size=3,
            policy=schedule_retention.policy(keep=0),
        )
    assert (report.runs, report.batches, report.related_rows) == (5, 2, 5)
    assert (report.artifacts, report.artifact_bytes, report.llm_calls) == (5, 510, 5)
    assert not Run.objects.exists() and not RunArtifact.objects.exists() and not LLMCall.objects.exists()
    assert not ScheduledRun.objects.exists()
    statements = [query["sql"] for query in queries.captured_queries]
    batches = [sql for sql in statements if sql.startswith("WITH gone AS (DELETE")]
    assert len(batches) == 2
    for sql in batches:
        assert "id = ANY(%b::uuid[])" in sql and "%s" not in sql, "the run ids bound as one array"
        assert "FOR UPDATE SKIP LOCKED" in sql, "a run locked by someone else is left for the next prune"
        for table in ("orchestrator_runartifact", "orchestrator_llmcall", "scheduling_scheduledrun"):
            assert f'DELETE FROM "{table}"' in sql
    others = [sql for sql in statements if sql not in batches]
    assert not any(word in sql.upper() for sql in others for word in ("DELETE", "UPDATE", "COUNT(", "FOR UPDATE"))


def test_only_final_unprotected_runs_go_and_kept_runs_keep_their_occurrences(db):
    schedule = factories.schedule("noop", kind="cron", cron="* * * * *")
    runs = _history(schedule, 6, days_old=40)  # newest first
    Run.objects.filter(id=runs[4].id).update(status="running")
    Run.objects.filter(id=runs[5].id).update(status="pending")
    report = retention.prune_runs(
        older_than=timezone.now() - timedelta(days=30), dry_run=False, policy=schedule_retention.policy(keep=2)
    )
    kept = {runs[0].id, runs[1].id, runs[4].id, runs[5].id}
    assert set(Run.objects.values_list("id", flat=True)) == kept
    assert set(ScheduledRun.objects.values_list("run_id", flat=True)) == kept, "no occurrence left with its run cleared"
    assert report.runs == report.related_rows == 2


def test_the_portable_path_deletes_and_counts_the_same(db, monkeypatch):
    """SQLite (the demo) takes the batch's steps one statement each: same rows gone, same report."""
    monkeypatch.setattr(orchestrator_db, "is_postgres", lambda: False)
    schedule = factories.schedule("noop", kind="cron", cron="* * * * *")
    runs = _history(schedule, 4, days_old=40)
    for run in runs:
        _with_rows(run, artifact_bytes=10)
    Run.objects.filter(id=runs[3].id).update(status="running")
    dry = retention.prune_runs(
        older_than=timezone.now() - timedelta(days=30), dry_run=True, policy=schedule_retention.policy(keep=1)
    )
    report = retention.prune_runs(
        older_than=timezone.now() - timedelta(days=30), dry_run=False, policy=schedule_retention.policy(keep=1)
    )
    for found in (dry, report):
        assert (found.runs, found.related_rows, found.artifacts, found.artifact_bytes, found.llm_calls) == (
            2,
            2,
            2,
            20,
            2,
        )
    assert set(Run.objects.values_list("id", flat=True)) == {runs[0].id, runs[3].id}
    assert RunArtifact.objects.count() == LLMCall.objects.count() == ScheduledRun.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_run_another_transaction_holds_is_skipped_not_waited_for():
    """Another transaction about to add a row to a run (its ``FOR KEY SHARE``) makes the batch pass it by."""
    schedule = factories.schedule("noop", kind="cron", cron="* * * * *")
    held, _free = _history(schedule, 2, days_old=40)
    settings = connection.settings_dict
    with psycopg.connect(
        host=settings["HOST"], port=settings["PORT"], user=settings["USER"], dbname=settings["NAME"]
    ) as other:
        other.execute("SELECT 1 FROM orchestrator_run WHERE id = %s FOR KEY SHARE", [held.id])
        with connection.cursor() as cursor:  # a batch that waited for the lock fails here instead of hanging
            cursor.execute("SET lock_timeout = '5s'")
        report = retention.prune_runs(
            older_than=timezone.now() - timedelta(days=30), dry_run=False, policy=schedule_retention.policy(keep=0)
        )
        other.rollback()
    assert report.runs == 1
    assert set(Run.objects.values_list("id", flat=True)) == {held.id}
    assert ScheduledRun.objects.filter(run_id=held.id).exists()
