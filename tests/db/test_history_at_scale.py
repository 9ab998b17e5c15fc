"""Lists of a long history read only their page: no ``COUNT(*)`` of the whole table, no ``OFFSET``, an index.

The bench (``./scripts/bench --only history``) measures the pages at ten million runs; these
tests pin the SQL and the plans that make them cheap, on tables of a few rows.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from orchestrator import estimated_count
from orchestrator.models import Run
from scheduling.models import OccurrenceStatus, Schedule, ScheduledRun
from scheduling.surfaces import actions, overview
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser() -> APIClient:
    client = APIClient()
    client.force_login(User.objects.create_superuser("root", password="pw-" + uuid.uuid4().hex))
    return client


def _history(schedule: Schedule, count: int) -> list[ScheduledRun]:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    rows = []
    for index in range(count):
        at = start + timedelta(minutes=index)
        run = factories.run_row("noop", trigger="schedule", now=at, status="succeeded")
        rows.append(
            ScheduledRun.objects.create(
                schedule=schedule, scheduled_for=at, status=OccurrenceStatus.DISPATCHED, run=run, created_at=at
            )
        )
    return rows[::-1]  # newest first, as the history lists them


def _counts_of(table: str, queries: CaptureQueriesContext) -> list[str]:
    found = [q["sql"] for q in queries.captured_queries]
    return [sql for sql in found if "COUNT(*)" in sql.upper() and f'FROM "{table}"' in sql]


def _plan(sql: str, params: tuple | None = None, *, bitmap_only: bool = False) -> str:
    """The plan of ``sql``; without ``params`` it is taken as written (as captured: its ``%`` are literal)."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        if bitmap_only:  # what a large table gets: a few rows of each status, not a walk of an index
            cursor.execute("SET LOCAL enable_indexscan = off")
        else:  # what a large table gets for a page: a walk of an index in its order, not a few rows then sorted
            # (with a handful of rows and no statistics yet, the planner takes the bitmap and sorts: the
            # newest-occurrences test failed alone and passed after a test that had analysed the table)
            cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


@pytest.mark.parametrize(
    ("path", "table"),
    [("/admin/orchestrator/run/", "orchestrator_run"), ("/admin/scheduling/scheduledrun/", "scheduling_scheduledrun")],
)
def test_unfiltered_admin_lists_of_the_history_take_the_planners_estimate(superuser, monkeypatch, path, table):
    _history(factories.schedule("noop", kind="cron", cron="* * * * *"), 3)
    with connection.cursor() as cursor:
        cursor.execute(f'ANALYZE "{table}"')
    with CaptureQueriesContext(connection) as queries:  # a small list: counted exactly
        assert superuser.get(path, secure=True).status_code == 200
    assert _counts_of(table, queries)
    monkeypatch.setattr(estimated_count, "EXACT_BELOW", 1)  # three rows stand for ten million
    with CaptureQueriesContext(connection) as queries:
        assert superuser.get(path, secure=True).status_code == 200
        assert superuser.get(path, {"q": "noop"}, secure=True).status_code == 200  # filtered: the plan's estimate
    assert _counts_of(table, queries) == []


def test_a_large_api_run_list_or_history_takes_the_estimate_and_a_small_one_counts(superuser, monkeypatch):
    _history(factories.schedule("noop", kind="cron", cron="* * * * *"), 3)
    with connection.cursor() as cursor:
        cursor.execute('ANALYZE "orchestrator_run"')
    monkeypatch.setattr(estimated_count, "EXACT_BELOW", 1)
    with CaptureQueriesContext(connection) as queries:
        everything = superuser.get("/api/runs/").json()
    assert everything["count"] == 3 and _counts_of("orchestrator_run", queries) == []
    schedule = ScheduledRun.objects.values_list("schedule_id", flat=True).first()
    with connection.cursor() as cursor:
        cursor.execute('ANALYZE "scheduling_scheduledrun"')
    with CaptureQueriesContext(connection) as queries:
        history = superuser.get(f"/api/schedules/{schedule}/history/").json()
    assert len(history["results"]) == 3 and history["count"] >= 1
    assert _counts_of("scheduling_scheduledrun", queries) == []
    monkeypatch.setattr(estimated_count, "EXACT_BELOW", 100_000)
    assert superuser.get("/api/runs/", {"status": "failed"}).json()["count"] == 0  # small: exact


def test_a_list_django_knows_is_empty_is_counted_without_sql(monkeypatch):
    monkeypatch.setattr(estimated_count, "EXACT_BELOW", 1)
    assert estimated_count.EstimatedCountPaginator(Run.objects.filter(pk__in=[]).order_by("pk"), 10).count == 0


def test_history_by_cursor_walks_every_row_once_without_offset_or_count(superuser):
    schedule = factories.schedule("noop", kind="cron", cron="* * * * *")
    _history(schedule, 7)
    by_page = superuser.get(f"/api/schedules/{schedule.pk}/history/").json()["results"]
    url: str | None = f"/api/schedules/{schedule.pk}/history/?page_size=3&cursor="
    seen: list[str] = []
    with CaptureQueriesContext(connection) as queries:
        while url is not None:
            page = superuser.get(url).json()
            assert "count" not in page
            seen += [row["scheduled_for"] for row in page["results"]]
            url = page["next"]
    assert seen == [row["scheduled_for"] for row in by_page]  # the same rows in the same order
    assert len(set(seen)) == 7
    statements = [q["sql"].upper() for q in queries.captured_queries if "SCHEDULING_SCHEDULEDRUN" in q["sql"].upper()]
    assert not any("OFFSET" in sql for sql in statements)
    assert not any("COUNT(*)" in sql for sql in statements)


def test_history_cursor_refuses_what_it_cannot_follow(superuser):
    schedule = factories.schedule("noop", kind="cron", cron="* * * * *")
    history = f"/api/schedules/{schedule.pk}/history/"
    bad = superuser.get(history, {"cursor": "not-a-cursor"})
    assert bad.status_code == 400 and "cursor" in bad.json()
    both = superuser.get(history, {"cursor": "", "page": 2})
    assert both.status_code == 400 and "cursor" in both.json()
    assert superuser.get(history, {"page": 1}).json()["count"] == 0  # the page-number contract is unchanged


def test_a_schedules_history_page_is_read_in_order_from_an_index_not_sorted():
    schedule = factories.schedule("noop", kind="cron", cron="* * * * *")
    _history(schedule, 3)
    sql = (
        "SELECT id FROM scheduling_scheduledrun WHERE schedule_id = %s AND COALESCE(scheduled_for, created_at) <= %s "
        "ORDER BY COALESCE(scheduled_for, created_at) DESC, id DESC LIMIT 50"
    )
    plan = _plan(sql, (schedule.pk, datetime(2027, 1, 1, tzinfo=UTC)))
    assert "occurrence_history_idx" in plan and "Sort" not in plan


def test_a_schedules_counts_read_its_newest_occurrences_and_its_buffered_ones_not_its_history(monkeypatch):
    """At 3 million rows a count over the whole history took 0.8 s on every view of the schedule."""
    schedule = factories.schedule("noop", kind="cron", cron="* * * * *")
    _history(schedule, 3)
    with CaptureQueriesContext(connection) as queries:
        overview.counts(schedule)
    (statement,) = [q["sql"] for q in queries.captured_queries]
    assert f"LIMIT {overview.COUNTED_OVER + 1}" in statement
    plan = _plan(statement)
    window = plan[plan.index("Limit") :]
    assert "occurrence_history_idx" in window and "Sort" not in plan, plan
    assert "occurrence_buffered_idx" in plan, "buffered: a count over the few waiting rows, once"
    assert "SubPlan" not in plan, "the buffered count is not repeated per row"


@pytest.mark.django_db(transaction=True)  # run-now publishes after its commit
def test_new_runs_take_time_ordered_ids_so_they_land_on_the_newest_leaves_of_the_id_indexes(redis_db):
    """Random ids put each new run on a random leaf of the runs' primary key and of the occurrences'
    ``run_id`` index: at 3 million runs 2.3 full-page WAL images and 3 buffer misses a run."""
    schedule = factories.schedule("noop", kind="interval", interval_seconds=60)
    at = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    runs = [actions.run_now(schedule, now=at + timedelta(milliseconds=step)) for step in (0, 5, 9)]
    assert all(run.id.version == 7 for run in runs)
    by_id = list(Run.objects.filter(pk__in=[r.pk for r in runs]).order_by("pk").values_list("created_at", flat=True))
    assert by_id == sorted(by_id) and len(set(by_id)) == 3
    made = Run.objects.create(job=schedule.job, trigger="manual", created_at=at)
    assert made.id.version == 7  # the model's default too


def test_the_admins_newest_occurrences_are_read_from_an_index():
    plan = _plan("SELECT id FROM scheduling_scheduledrun ORDER BY created_at DESC LIMIT 100")
    assert "occurrence_created_idx" in plan


def test_active_runs_are_read_through_their_partial_indexes():
    factories.run_row("noop", trigger="manual")
    query = Run.objects.active().values_list("job__key", "status").order_by()
    sql, params = query.query.sql_with_params()
    plan = _plan(sql, params, bitmap_only=True)
    assert "run_publish_after_idx" in plan and "run_queued_at_idx" in plan and "run_running_idx" in plan
