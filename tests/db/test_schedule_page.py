"""A schedule's own page (/schedules/<id>/), its actions, its delete confirmation and its backfill form."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from orchestrator import audit
from orchestrator.models import Run, RunStatus
from scheduling.models import Backfill, Calendar, Schedule, ScheduledRun
from tests import factories
from tests.records import run_for, staff_user

pytestmark = pytest.mark.django_db

VIEW = "scheduling.view_schedule"
CHANGE = "scheduling.change_schedule"
DELETE = "scheduling.delete_schedule"
BACKFILL = "scheduling.add_backfill"


def text(response: Any) -> str:
    return html.unescape(response.content.decode())


def user(name: str, *perms: str, staff: bool = False) -> User:
    made = staff_user(name, *perms)
    made.is_staff = staff
    made.save()
    return User.objects.get(pk=made.pk)


def logged_in(*perms: str, name: str = "ops", staff: bool = False) -> Client:
    client = Client()
    client.force_login(user(name, *perms, staff=staff))
    return client


def page_of(schedule: Schedule) -> str:
    return f"/schedules/{schedule.pk}/"


def test_anonymous_users_are_sent_to_log_in_and_change_nothing(client: Client) -> None:
    schedule = factories.schedule("noop")
    for url in (page_of(schedule), f"{page_of(schedule)}delete/", f"{page_of(schedule)}backfill/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/"), url
    response = client.post(f"{page_of(schedule)}delete/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert Schedule.objects.filter(pk=schedule.pk).exists()


def test_users_without_the_view_permission_get_403() -> None:
    schedule = factories.schedule("noop")
    assert logged_in().get(page_of(schedule)).status_code == 403


def test_the_page_shows_timing_description_state_upcoming_runs_charts_and_history() -> None:
    schedule = factories.schedule(
        "noop",
        name="nightly-report",
        kind="cron",
        cron="0 2 * * *",
        timezone="Europe/Berlin",
        description="Builds the <b>nightly</b> report for finance.",
        tenant="acme",
        remaining_runs=5,
        pause_after_failures=3,
    )
    calendar = Calendar(name="every-day-off", dates=[], crons=["* * * * *"])
    calendar.save()
    schedule.calendars.add(calendar)
    now = timezone.now()
    for index, (status, seconds) in enumerate(
        [(RunStatus.SUCCEEDED, 2), (RunStatus.FAILED, 7), (RunStatus.SUCCEEDED, 65), (RunStatus.TIMED_OUT, 1)]
    ):
        run_for(
            schedule,
            status=status,
            duration=timedelta(seconds=seconds),
            created_at=now - timedelta(minutes=10 - index),
            scheduled_for=now - timedelta(days=index + 1),
        )
    with audit.acting("alice", "api"):
        schedule.cron = "0 3 * * *"
        schedule.save()
    client = logged_in(VIEW)
    response = client.get(page_of(schedule))
    assert response.status_code == 200
    body = response.content.decode()
    page = text(response)
    assert "At 03:00 (Europe/Berlin)" in page
    assert "Builds the <b>nightly</b> report" in page and "&lt;b&gt;nightly" in body, "the description, escaped"
    assert re.search(r'data-fact="runs-left">5 left<', page)
    assert re.search(r'data-fact="failures">0 of 3', page)
    assert "every-day-off" in page and "acme" in page
    upcoming = re.findall(r'<tr class="fire-excluded" data-excluded="every-day-off">', page)
    assert len(upcoming) == 10, "every time excluded by the calendar (excluded times take no run left)"
    assert "CET" in page and "UTC" in page, "the zone's time with UTC beside it"
    # the last runs with durations, newest first; the strip and the sparkline as inline SVG
    durations = re.findall(r"<td data-duration>([^<]*)</td>", page)
    assert durations == ["1.0 s", "1 min 05 s", "7.0 s", "2.0 s"]
    strip = re.findall(r'<rect class="strip-(\w+)" data-status="(\w+)"', page)
    assert strip == [("ok", "succeeded"), ("bad", "failed"), ("ok", "succeeded"), ("bad", "timed_out")]
    assert re.search(r'<polyline class="spark-line" points="[0-9., ]+"', page)
    assert page.count('class="spark-dot') == 4
    assert "2 succeeded, 2 failed or timed out" in page
    history = re.findall(r'<li data-history-action="(\w+)">.*?</strong> <span class="muted">\((\w+)\)', page, re.S)
    assert history[0] == ("changed", "api") and ("created", "other") in history[1:], history
    assert "<strong>alice</strong>" in page
    assert '<code>cron</code>: "0 2 * * *" → "0 3 * * *"' in page, "the field before and after"
    assert "<script" not in body.split("<main>")[1], "no script: the charts are SVG drawn on the server"


def test_the_page_shows_the_deadline_and_an_overdue_run_with_its_tag_and_count() -> None:
    schedule = factories.schedule("noop", name="with-deadline", kind="cron", cron="0 2 * * *", deadline_seconds=900)
    now = timezone.now()
    late = run_for(schedule, status=RunStatus.RUNNING, created_at=now, scheduled_for=now - timedelta(hours=1))
    ScheduledRun.objects.filter(run=late).update(overdue_at=now - timedelta(minutes=45))
    run_for(
        schedule, status=RunStatus.SUCCEEDED, created_at=now - timedelta(days=1), scheduled_for=now - timedelta(days=1)
    )
    page = text(logged_in(VIEW).get(page_of(schedule)))
    assert re.search(
        r'data-fact="deadline">900 s after its scheduled time \(a run not finished by then is overdue\)<', page
    )
    assert re.search(r'data-count="overdue">1<', page), "the overdue count"
    rows = re.findall(r'<tr data-status="(\w+)"( data-overdue="true")?>(.*?)</tr>', page, re.S)
    assert [bool(mark) for _status, mark, _cells in rows] == [True, False], "the overdue occurrence is marked"
    assert '<strong class="tag tag-overdue">overdue</strong>' in rows[0][2]
    assert "tag-overdue" not in rows[1][2]
    plain = factories.schedule("noop", name="no-deadline")
    assert re.search(r'data-fact="deadline">none<', text(logged_in(VIEW, name="other").get(page_of(plain))))


def test_a_paused_schedule_shows_who_why_and_until() -> None:
    schedule = factories.schedule("noop", name="frozen")
    until = timezone.now() + timedelta(days=1)
    Schedule.objects.filter(pk=schedule.pk).update(
        enabled=False, pause_note="deploy freeze", paused_by="alice", paused_at=timezone.now(), resume_at=until
    )
    page = text(logged_in(VIEW, CHANGE).get(page_of(schedule)))
    assert 'data-state="paused"' in page
    assert re.search(r'data-fact="state">paused by alice at .*: deploy freeze; resumes at ', page)
    assert 'data-action-button="resume"' in page and 'data-action-button="pause"' not in page


def actions_shown(page: str) -> set[str]:
    return set(re.findall(r'data-action-button="([\w-]+)"', page))


@pytest.mark.parametrize(
    ("perms", "expected"),
    [
        ((VIEW,), set()),
        ((VIEW, CHANGE), {"run-now", "pause", "edit"}),
        ((VIEW, BACKFILL), {"backfill"}),
        ((VIEW, DELETE), {"delete"}),
        ((VIEW, CHANGE, BACKFILL, DELETE), {"run-now", "pause", "edit", "backfill", "delete"}),
    ],
)
def test_actions_are_shown_only_to_whom_their_rule_allows(perms: tuple[str, ...], expected: set[str]) -> None:
    schedule = factories.schedule("noop")
    page = text(logged_in(*perms).get(page_of(schedule)))
    assert actions_shown(page) == expected


def test_each_action_refuses_users_without_its_permission(redis_db: Any) -> None:
    schedule = factories.schedule("noop")
    viewer = logged_in(VIEW)
    before = list(Schedule.objects.values())
    for url in ("run-now/", "pause/", "resume/", "backfill/", "delete/", "edit/"):
        assert viewer.post(page_of(schedule) + url, {"note": "x"}).status_code == 403, url
    assert viewer.get(page_of(schedule) + "delete/").status_code == 403
    assert viewer.get(page_of(schedule) + "backfill/").status_code == 403
    assert list(Schedule.objects.values()) == before
    assert not Run.objects.exists() and not Backfill.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_run_now_and_resume_from_the_page_return_to_it(redis_db: Any) -> None:
    schedule = factories.schedule("noop")
    client = logged_in(VIEW, CHANGE)
    referer = {"Referer": f"http://testserver{page_of(schedule)}"}
    response = client.post(page_of(schedule) + "run-now/", headers=referer)
    assert response.status_code == 302 and response["Location"] == page_of(schedule)
    assert Run.objects.filter(trigger="manual").count() == 1
    # pause with a note from the page's link: back to the page
    response = client.post(
        page_of(schedule) + "pause/", {"note": "maintenance", "resume_at": "", "next": page_of(schedule)}
    )
    assert response.status_code == 302 and response["Location"] == page_of(schedule)
    schedule.refresh_from_db()
    assert schedule.paused and schedule.pause_note == "maintenance" and schedule.paused_by == "ops"
    response = client.post(page_of(schedule) + "resume/", headers=referer)
    assert response["Location"] == page_of(schedule)
    schedule.refresh_from_db()
    assert schedule.enabled
    # a next pointing elsewhere falls back to the list
    response = client.post(page_of(schedule) + "pause/", {"note": "x", "next": "https://evil.example/"})
    assert response["Location"] == "/schedules/"


def test_delete_asks_first_then_deletes_and_keeps_the_runs() -> None:
    schedule = factories.schedule("noop", name="to-go")
    run = run_for(schedule)
    client = logged_in(VIEW, DELETE)
    confirm = client.get(page_of(schedule) + "delete/")
    assert confirm.status_code == 200 and 'data-action-button="confirm-delete"' in text(confirm)
    assert Schedule.objects.filter(pk=schedule.pk).exists(), "a GET deletes nothing"
    response = client.post(page_of(schedule) + "delete/")
    assert response.status_code == 302 and response["Location"] == "/schedules/"
    assert not Schedule.objects.filter(pk=schedule.pk).exists()
    assert not ScheduledRun.objects.filter(schedule_id=schedule.pk).exists()
    assert Run.objects.filter(pk=run.pk).exists(), "runs stay as records"
    entry = LogEntry.objects.get(object_id=str(schedule.pk), action_flag=3)
    assert str(entry.user) == "ops"


def test_delete_needs_the_csrf_token() -> None:
    schedule = factories.schedule("noop")
    client = Client(enforce_csrf_checks=True)
    client.force_login(user("ops", VIEW, DELETE))
    assert client.post(page_of(schedule) + "delete/").status_code == 403
    assert Schedule.objects.filter(pk=schedule.pk).exists()


def test_backfill_dry_run_lists_then_a_request_records_it() -> None:
    schedule = factories.schedule("noop", kind="cron", cron="0 * * * *")
    client = logged_in(VIEW, BACKFILL)
    end = (timezone.now() - timedelta(hours=1)).replace(minute=30, second=0, microsecond=0)
    start = end - timedelta(hours=5)
    fields = {"start": start.isoformat(), "end": end.isoformat(), "overlap_policy": "buffer_all"}
    dry = client.post(page_of(schedule) + "backfill/", {**fields, "dry_run": "on"})
    assert dry.status_code == 200 and "5 fire times in the range" in text(dry)
    assert not Backfill.objects.exists()
    response = client.post(page_of(schedule) + "backfill/", fields)
    assert response.status_code == 302 and response["Location"] == page_of(schedule)
    backfill = Backfill.objects.get()
    assert (backfill.count, backfill.requested_by) == (5, "ops")


def test_backfill_errors_are_shown_on_their_fields() -> None:
    schedule = factories.schedule("noop", kind="cron", cron="0 * * * *")
    client = logged_in(VIEW, BACKFILL)
    later = timezone.now() + timedelta(days=2)
    response = client.post(
        page_of(schedule) + "backfill/",
        {"start": (later - timedelta(days=1)).isoformat(), "end": later.isoformat(), "overlap_policy": "buffer_all"},
    )
    assert response.status_code == 200
    assert "a backfill fills the past" in text(response)
    assert not Backfill.objects.exists()


@pytest.mark.parametrize("pk", ["0", "999999999", "99999999999999999999999", "%C2%B2", "-1", "abc"])
def test_hostile_and_missing_ids_are_404(pk: str) -> None:
    client = logged_in(VIEW, CHANGE, DELETE, BACKFILL)
    for suffix in ("", "delete/", "backfill/"):
        assert client.get(f"/schedules/{pk}/{suffix}").status_code == 404, (pk, suffix)


def test_names_on_the_list_link_to_the_page() -> None:
    schedule = factories.schedule("noop", name="linked")
    page = text(logged_in(VIEW).get("/schedules/"))
    assert f'<a class="schedule-link" href="/schedules/{schedule.pk}/"><strong>linked</strong></a>' in page
