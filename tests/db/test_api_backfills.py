"""Backfills through the REST API: permissions, the 202 shape, dry runs, progress, cancel, errors by field."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import Permission, User
from rest_framework.test import APIClient

from orchestrator.models import Run
from scheduling.engine import backfill_times, backfills, buffered
from scheduling.models import Backfill, Calendar, ScheduledRun
from scheduling.surfaces.api.tokens import ApiToken
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)

START = "2026-01-05T00:00:00Z"
END = "2026-01-05T05:00:00Z"
SHAPE = {"id", "schedule", "start", "end", "count", "created", "status"}


def client_of(*perms: str) -> APIClient:
    user = User.objects.create_user(f"u-{uuid.uuid4().hex[:8]}", password="pw-" + uuid.uuid4().hex)
    for perm in perms:
        app_label, codename = perm.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    client = APIClient()
    _token, key = ApiToken.objects.issue(user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def url(schedule_id: int) -> str:
    return f"/api/schedules/{schedule_id}/backfill/"


def test_requesting_needs_add_backfill_and_answers_202_with_the_backfill(redis_db):
    schedule = factories.schedule("noop", interval_seconds=3600)
    assert APIClient().post(url(schedule.pk), {"start": START, "end": END}, format="json").status_code == 401
    editor = client_of("scheduling.view_schedule", "scheduling.change_schedule")
    assert editor.post(url(schedule.pk), {"start": START, "end": END}, format="json").status_code == 403
    operator = client_of("scheduling.add_backfill")
    answer = operator.post(url(schedule.pk), {"start": START, "end": END}, format="json")
    assert answer.status_code == 202, answer.json()
    body = answer.json()
    assert set(body) >= SHAPE
    assert body["schedule"] == schedule.pk and body["count"] == 5 and body["created"] == 0
    assert body["status"] == "running" and body["overlap_policy"] == "buffer_all"
    assert body["start"] == "2026-01-05T00:00:00Z" and body["end"] == "2026-01-05T05:00:00Z"
    assert answer["Location"] == f"/api/backfills/{body['id']}/"
    assert Backfill.objects.get().requested_by == User.objects.filter(username__startswith="u-").last().username
    assert operator.post(url(999999), {"start": START, "end": END}, format="json").status_code == 404


def test_a_dry_run_answers_the_fire_times_and_writes_nothing(redis_db):
    weekends = Calendar.objects.create(name="weekends", crons=["* * * * 6,0"])
    schedule = factories.schedule("noop", kind="cron", cron="0 9 * * *")
    schedule.calendars.set([weekends])
    answer = client_of("scheduling.add_backfill").post(
        url(schedule.pk), {"start": START, "end": "2026-01-12T00:00:00Z", "dry_run": True}, format="json"
    )
    assert answer.status_code == 200, answer.json()
    body = answer.json()
    assert body["count"] == 7 and body["existing"] == 0 and len(body["fire_times"]) == 7
    assert body["fire_times"][0] == {"at": "2026-01-05T09:00:00Z", "excluded": None}
    assert body["fire_times"][5] == {"at": "2026-01-10T09:00:00Z", "excluded": "weekends"}
    assert not Backfill.objects.exists() and not ScheduledRun.objects.exists()


def test_a_year_of_a_minutely_cron_in_berlin_is_counted_exactly(redis_db):
    """Every minute of the year once: the gap's wall times never happen, and a wildcard cron runs
    in both passes of the fold. Counted a day at a time; before, it was refused (walking 525,600
    fire times one at a time took longer than the 5 s budget)."""
    schedule = factories.schedule("noop", kind="cron", cron="* * * * *", timezone="Europe/Berlin")
    body = {"start": "2025-01-01T00:00:00Z", "end": "2026-01-01T00:00:00Z", "dry_run": True}
    answer = client_of("scheduling.add_backfill").post(url(schedule.pk), body, format="json")
    assert answer.status_code == 200, answer.json()
    assert answer.json()["count"] == 365 * 1440


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"end": END}, "start", "required"),
        ({"start": 5, "end": END}, "start", "not a number"),
        ({"start": "soon", "end": END}, "start", "ISO 8601"),
        ({"start": "2024-01-01T12:99:00Z", "end": END}, "start", "not a valid date and time"),
        ({"start": "2026-01-05T00:00:00", "end": END}, "start", "time zone"),
        ({"start": END, "end": START}, "end", "after start"),
        ({"start": "0357-02-03T18:47:07+21:47", "end": END}, "start", "must not be before 1970-01-01"),
        ({"start": "0001-01-01T00:00:00+05:00", "end": END}, "start", "must not be before 1970-01-01"),
        ({"start": START, "end": "2999-01-01T00:00:00Z"}, "end", "must not be after now"),
        ({"start": START, "end": END, "overlap_policy": "skip"}, "overlap_policy", "not a valid choice"),
        ({"start": START, "end": END, "dry_run": "yes"}, "dry_run", "true or false"),
        ({"start": "2026-01-05T00:10:00Z", "end": "2026-01-05T00:20:00Z"}, "start", "no fire time"),
    ],
)
def test_bad_input_is_400_naming_the_field(redis_db, body, field, words):
    schedule = factories.schedule("noop", interval_seconds=3600)
    answer = client_of("scheduling.add_backfill").post(url(schedule.pk), body, format="json")
    assert answer.status_code == 400
    errors = answer.json()
    assert list(errors) == [field], errors
    assert words in " ".join(errors[field])
    assert not Backfill.objects.exists()


def test_an_offset_the_database_cannot_store_is_taken_as_its_utc_time(redis_db):
    """+21:47 is a valid ISO 8601 offset that PostgreSQL refuses (it takes ±15:59): the range is kept in UTC."""
    schedule = factories.schedule("noop", interval_seconds=3600)
    body = {"start": "2026-01-05T21:47:00+21:47", "end": "2026-01-06T02:00:00+21:47"}
    answer = client_of("scheduling.add_backfill").post(url(schedule.pk), {**body, "dry_run": True}, format="json")
    assert answer.status_code == 200, answer.json()
    assert [fire["at"] for fire in answer.json()["fire_times"]] == [
        "2026-01-05T00:00:00Z", "2026-01-05T01:00:00Z", "2026-01-05T02:00:00Z", "2026-01-05T03:00:00Z",
        "2026-01-05T04:00:00Z",
    ]  # fmt: skip
    answer = client_of("scheduling.add_backfill").post(url(schedule.pk), body, format="json")
    assert answer.status_code == 202, answer.json()
    assert answer.json()["start"] == "2026-01-05T00:00:00Z" and answer.json()["end"] == "2026-01-05T04:13:00Z"


def test_progress_and_cancel(redis_db):
    schedule = factories.schedule("noop", interval_seconds=3600)
    backfill = backfills.request(
        schedule,
        start=datetime(2026, 1, 5, tzinfo=UTC),
        end=datetime(2026, 1, 5, 4, tzinfo=UTC),
        by="ada",
        now=datetime(2026, 2, 1, tzinfo=UTC),
    )
    now = datetime(2026, 2, 1, tzinfo=UTC)
    backfills.fill(now)
    [released] = buffered.release_buffered(now)
    reader = client_of("scheduling.view_backfill")
    assert client_of("scheduling.view_schedule").get(f"/api/backfills/{backfill.pk}/").status_code == 403
    body = reader.get(f"/api/backfills/{backfill.pk}/").json()
    assert set(body) >= SHAPE and body["created"] == 4 and body["status"] == "running"
    assert body["progress"] == {"occurrences": {"buffered": 3, "dispatched": 1}, "runs": {"queued": 1}}
    listed = reader.get(f"/api/backfills/?schedule={schedule.pk}").json()
    assert [item["id"] for item in listed["results"]] == [backfill.pk]
    assert reader.get("/api/backfills/?schedule=x").status_code == 400
    assert reader.post(f"/api/backfills/{backfill.pk}/cancel/").status_code == 403
    canceller = client_of("scheduling.change_backfill")
    answer = canceller.post(f"/api/backfills/{backfill.pk}/cancel/")
    assert answer.status_code == 200, answer.json()
    assert answer.json()["status"] == "cancelled"
    assert answer.json()["progress"] == {"occurrences": {"skipped": 3, "dispatched": 1}, "runs": {"cancelled": 1}}
    assert Run.objects.get(id=released.id).status == "cancelled"
    again = canceller.post(f"/api/backfills/{backfill.pk}/cancel/")
    assert again.status_code == 409 and "cancelled, not running" in again.json()["detail"]


def test_the_schema_documents_the_backfill_paths(redis_db):
    schema = client_of("scheduling.view_schedule").get("/api/schema/?format=json").json()
    assert "/api/schedules/{id}/backfill/" in schema["paths"]
    assert "/api/backfills/{id}/" in schema["paths"] and "/api/backfills/{id}/cancel/" in schema["paths"]
    post = schema["paths"]["/api/schedules/{id}/backfill/"]["post"]
    assert {"202", "200", "400"} <= set(post["responses"])


def test_an_old_range_holding_more_than_the_cap_is_refused(redis_db, settings):
    settings.SCHEDULER_BACKFILL_MAX = 3
    schedule = factories.schedule("noop", interval_seconds=3600)
    answer = client_of("scheduling.add_backfill").post(url(schedule.pk), {"start": START, "end": END}, format="json")
    assert answer.status_code == 400 and "more than 3 fire times" in answer.json()["end"][0]


def test_a_cron_range_too_long_to_count_quickly_is_a_400_in_seconds_not_a_hung_request(redis_db, monkeypatch, settings):
    """Found by schemathesis: a daily cron from the year 357 to 1501 took minutes to count."""
    monkeypatch.setattr(backfill_times, "COUNT_BUDGET_SECONDS", 0.0)  # counted a year at a time: past it at once
    settings.SCHEDULER_BACKFILL_MAX = 10**9
    schedule = factories.schedule("noop", kind="cron", cron="* * * * *")
    operator = client_of("scheduling.add_backfill")
    for dry_run in (True, False):
        body = {"start": "1971-02-03T18:47:07+13:47", "end": "2025-03-26T03:11:31Z", "dry_run": dry_run}
        answer = operator.post(url(schedule.pk), body, format="json")
        assert answer.status_code == 400, answer.json()
        assert "too long to count" in answer.json()["end"][0]
    assert not Backfill.objects.exists()
