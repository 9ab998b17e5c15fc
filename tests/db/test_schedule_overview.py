"""A schedule described (``surfaces.overview``) and ``GET /api/schedules/{id}/`` on PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from orchestrator.models import Run
from scheduling.models import Calendar, OccurrenceStatus, Schedule, ScheduledRun
from scheduling.surfaces import overview
from tests import factories

pytestmark = pytest.mark.django_db

#: A Friday; Europe/Berlin leaves summer time on Sunday 2026-10-25 at 03:00 local.
FRIDAY = datetime(2026, 10, 23, 12, 0, tzinfo=UTC)


@pytest.fixture
def admin() -> APIClient:
    client = APIClient()
    client.force_login(User.objects.create_superuser("root", password="pw-" + uuid.uuid4().hex))
    return client


def _occurrence(schedule: Schedule, at: datetime, status: str, **fields) -> ScheduledRun:
    return ScheduledRun.objects.create(schedule=schedule, scheduled_for=at, status=status, **fields)


def _history(schedule: Schedule, count: int) -> None:
    for index in range(count):
        run = Run.objects.create(job=schedule.job, trigger="schedule", status="succeeded", created_at=timezone.now())
        _occurrence(schedule, FRIDAY - timedelta(hours=count - index), OccurrenceStatus.DISPATCHED, run=run)


def test_upcoming_marks_excluded_times_with_the_calendar_and_shows_local_times_across_dst():
    weekends = Calendar.objects.create(name="weekends", timezone="Europe/Berlin", crons=["* * * * 6,0"])
    schedule = factories.schedule(kind="cron", cron="30 9 * * *", timezone="Europe/Berlin")
    schedule.calendars.set([weekends])
    items = overview.upcoming(Schedule.objects.get(pk=schedule.pk), now=FRIDAY)
    assert len(items) == 10, "excluded times count among the ten"
    assert items[0] == {"at": "2026-10-24T07:30:00Z", "local": "2026-10-24T09:30:00+02:00", "excluded": "weekends"}
    assert items[1] == {"at": "2026-10-25T08:30:00Z", "local": "2026-10-25T09:30:00+01:00", "excluded": "weekends"}
    assert items[2] == {"at": "2026-10-26T08:30:00Z", "local": "2026-10-26T09:30:00+01:00", "excluded": None}
    assert [item["excluded"] for item in items] == ["weekends"] * 2 + [None] * 5 + ["weekends"] * 2 + [None]


def test_upcoming_honours_remaining_runs_and_shows_a_paused_schedules_would_be_times():
    weekends = Calendar.objects.create(name="weekends", crons=["* * * * 6,0"])
    schedule = factories.schedule(kind="cron", cron="0 9 * * *", remaining_runs=2)
    schedule.calendars.set([weekends])
    items = overview.upcoming(Schedule.objects.get(pk=schedule.pk), now=FRIDAY)
    assert [item["excluded"] for item in items] == ["weekends", "weekends", None, None], "two runs, then nothing"
    Schedule.objects.filter(pk=schedule.pk).update(remaining_runs=0)
    assert overview.upcoming(Schedule.objects.get(pk=schedule.pk), now=FRIDAY) == []
    paused = factories.schedule(kind="interval", interval_seconds=3600)
    Schedule.objects.filter(pk=paused.pk).update(enabled=False, pause_note="migration", paused_at=FRIDAY)
    row = Schedule.objects.get(pk=paused.pk)
    assert row.paused
    times = [item["at"] for item in overview.upcoming(row, now=FRIDAY)]
    assert times[:2] == ["2026-10-23T13:00:00Z", "2026-10-23T14:00:00Z"] and len(times) == 10


def test_recent_is_newest_first_with_outcome_run_and_overdue_flag():
    schedule = factories.schedule(kind="interval", interval_seconds=3600)
    _history(schedule, 12)
    late = Run.objects.create(job=schedule.job, trigger="schedule", status="running", created_at=timezone.now())
    _occurrence(schedule, FRIDAY, OccurrenceStatus.DISPATCHED, run=late, overdue_at=FRIDAY + timedelta(minutes=5))
    _occurrence(schedule, FRIDAY + timedelta(hours=1), OccurrenceStatus.SKIPPED, reason="excluded by calendar 'x'")
    items = overview.recent(schedule)
    assert len(items) == 10
    assert items[0] == {
        "scheduled_for": "2026-10-23T13:00:00Z",
        "status": "skipped",
        "reason": "excluded by calendar 'x'",
        "trigger": "schedule",
        "missed_count": 1,
        "overdue": False,
        "run": None,
    }
    assert items[1]["run"] == {"id": str(late.pk), "status": "running"} and items[1]["overdue"] is True
    assert items[2]["scheduled_for"] == "2026-10-23T11:00:00Z" and items[2]["run"]["status"] == "succeeded"


def test_counts_sum_missed_ranges_and_count_skipped_excluded_buffered_and_overdue():
    schedule = factories.schedule(kind="interval", interval_seconds=60)
    _occurrence(schedule, FRIDAY, OccurrenceStatus.MISSED, missed_count=40)
    _occurrence(schedule, FRIDAY + timedelta(minutes=41), OccurrenceStatus.MISSED)
    _occurrence(schedule, FRIDAY + timedelta(minutes=42), OccurrenceStatus.SKIPPED, reason="overlap")
    _occurrence(schedule, FRIDAY + timedelta(minutes=43), OccurrenceStatus.SKIPPED, reason="excluded by calendar 'w'")
    _occurrence(schedule, FRIDAY + timedelta(minutes=44), OccurrenceStatus.BUFFERED)
    _occurrence(schedule, FRIDAY + timedelta(minutes=45), OccurrenceStatus.DISPATCHED, overdue_at=FRIDAY)
    other = factories.schedule(kind="interval", interval_seconds=60)
    _occurrence(other, FRIDAY, OccurrenceStatus.MISSED, missed_count=7)
    assert overview.counts(schedule) == {
        "missed": 41, "skipped": 2, "excluded": 1, "buffered": 1, "overdue": 1, "window": None
    }  # fmt: skip
    assert overview.counts(factories.schedule()) == {
        "missed": 0, "skipped": 0, "excluded": 0, "buffered": 0, "overdue": 0, "window": None
    }  # fmt: skip
    assert overview.counted_over_text(overview.counts(schedule)) == ""


def test_counts_of_a_long_history_cover_its_newest_occurrences_and_every_buffered_one(admin, monkeypatch):
    monkeypatch.setattr(overview, "COUNTED_OVER", 3)
    schedule = factories.schedule(kind="interval", interval_seconds=60)
    _occurrence(schedule, FRIDAY, OccurrenceStatus.BUFFERED)  # the oldest, still waiting: counted
    _occurrence(schedule, FRIDAY + timedelta(minutes=1), OccurrenceStatus.MISSED, missed_count=9)  # past the window
    _occurrence(schedule, FRIDAY + timedelta(minutes=2), OccurrenceStatus.SKIPPED, reason="excluded by 'w'")
    _occurrence(schedule, FRIDAY + timedelta(minutes=3), OccurrenceStatus.MISSED, missed_count=2)
    _occurrence(schedule, FRIDAY + timedelta(minutes=4), OccurrenceStatus.DISPATCHED, overdue_at=FRIDAY)
    found = overview.counts(schedule)
    assert found == {"missed": 2, "skipped": 1, "excluded": 1, "buffered": 1, "overdue": 1, "window": 3}
    assert overview.counted_over_text(found) == (
        "missed, skipped and overdue of the newest 3 occurrences; buffered: all waiting"
    )
    assert admin.get(f"/api/schedules/{schedule.pk}/").json()["counts"] == found
    monkeypatch.setattr(overview, "COUNTED_OVER", 5)  # exactly as many as the history holds: the whole of it
    assert overview.counts(schedule)["window"] is None and overview.counts(schedule)["missed"] == 11
    monkeypatch.setattr(overview, "COUNTED_OVER", 3)
    for page in (f"/admin/scheduling/schedule/{schedule.pk}/change/", f"/schedules/{schedule.pk}/"):
        text = admin.get(page, secure=True).content.decode()
        assert 'data-counted-over="3"' in text and "of the newest 3 occurrences; buffered: all waiting" in text, page


def test_api_detail_adds_recent_upcoming_and_counts_and_the_list_does_not(admin):
    weekends = Calendar.objects.create(name="weekends", crons=["* * * * 6,0"])
    schedule = factories.schedule(kind="cron", cron="0 9 * * *", timezone="America/New_York")
    schedule.calendars.set([weekends])
    _history(schedule, 3)
    body = admin.get(f"/api/schedules/{schedule.pk}/").json()
    assert len(body["upcoming"]) == 10 and len(body["recent"]) == 3
    for item in body["upcoming"]:
        at = datetime.fromisoformat(item["at"])
        local = datetime.fromisoformat(item["local"])
        assert item["at"].endswith("Z") and at == local and at > timezone.now()
        assert local.hour == 9, "09:00 in New York"
        assert item["excluded"] == ("weekends" if local.weekday() >= 5 else None)
    assert body["recent"][0]["run"]["status"] == "succeeded" and body["recent"][0]["overdue"] is False
    assert body["counts"] == {"missed": 0, "skipped": 0, "excluded": 0, "buffered": 0, "overdue": 0, "window": None}
    listed = admin.get("/api/schedules/").json()["results"][0]
    assert not {"recent", "upcoming", "counts"} & set(listed)


def test_api_detail_costs_the_same_few_queries_whatever_the_history(admin):
    def measured(schedule: Schedule) -> int:
        with CaptureQueriesContext(connection) as queries:
            response = admin.get(f"/api/schedules/{schedule.pk}/")
        assert response.status_code == 200
        return len(queries)

    calendars = [Calendar.objects.create(name=f"cal-{i}", dates=["2030-01-01"]) for i in range(5)]
    small = factories.schedule(kind="cron", cron="0 9 * * *")
    large = factories.schedule(kind="cron", cron="0 9 * * *")
    large.calendars.set(calendars)
    _history(large, 30)
    for at in range(20):
        _occurrence(large, FRIDAY + timedelta(days=at + 1), OccurrenceStatus.MISSED, missed_count=3)
    cost = measured(small)
    assert measured(large) == cost, "the detail's cost does not grow with occurrences or calendars"
    # session and user, the schedule with its job and directive, its calendars, recent, counts
    assert cost <= 6


def test_openapi_documents_the_detail_shapes(admin):
    schema = admin.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    components = schema["components"]["schemas"]
    detail = components["ScheduleDetail"]["properties"]
    assert {"recent", "upcoming", "counts"} <= set(detail)
    assert set(components["UpcomingTime"]["properties"]) == {"at", "local", "excluded"}
    assert {"scheduled_for", "status", "reason", "run", "overdue"} <= set(components["RecentOccurrence"]["properties"])
    counts = components["OccurrenceCounts"]["properties"]
    assert {"missed", "skipped", "buffered", "window"} <= set(counts)
    assert counts["window"]["nullable"] is True and "newest" in counts["window"]["description"]
    retrieve = schema["paths"]["/api/schedules/{id}/"]["get"]["responses"]["200"]
    assert retrieve["content"]["application/json"]["schema"]["$ref"].endswith("/ScheduleDetail")


def test_api_detail_says_why_upcoming_is_empty_in_the_words_of_the_other_doors(admin):
    """``upcoming_note``: null with upcoming times; with none, the admin's, the page's and the CLI's words."""
    from click.testing import CliRunner

    from scheduling.surfaces.celery_command import schedules

    live = factories.schedule(kind="cron", cron="0 9 * * *")
    assert admin.get(f"/api/schedules/{live.pk}/").json()["upcoming_note"] is None
    spent = factories.schedule(kind="cron", cron="0 9 * * *", remaining_runs=0)
    body = admin.get(f"/api/schedules/{spent.pk}/").json()
    assert body["upcoming"] == []
    assert body["upcoming_note"] == "No runs left (remaining_runs is 0): no more occurrences."
    page = admin.get(f"/schedules/{spent.pk}/", secure=True).content.decode()
    assert f"data-upcoming-note>{body['upcoming_note']}<" in page
    admin_page = admin.get(f"/admin/scheduling/schedule/{spent.pk}/change/", secure=True).content.decode()
    assert f"data-upcoming-note>{body['upcoming_note']}<" in admin_page
    cli = CliRunner().invoke(schedules, ["next", spent.name])
    assert cli.output.splitlines()[1:] == [f"  {body['upcoming_note']}"]
    ended = factories.schedule(
        kind="interval", interval_seconds=60, start_at=FRIDAY - timedelta(days=2), end_at=FRIDAY - timedelta(days=1)
    )
    body = admin.get(f"/api/schedules/{ended.pk}/").json()
    assert body["upcoming"] == [] and body["upcoming_note"] == "No more fire times: the schedule has ended."
    assert f"data-upcoming-note>{body['upcoming_note']}<" in admin.get(f"/schedules/{ended.pk}/").content.decode()


def test_openapi_documents_upcoming_note_as_nullable_text(admin):
    schema = admin.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    note = schema["components"]["schemas"]["ScheduleDetail"]["properties"]["upcoming_note"]
    assert note["type"] == "string" and note.get("nullable") is True and note.get("readOnly") is True
    assert "No runs left" in note["description"] and "null when there are upcoming times" in note["description"]
