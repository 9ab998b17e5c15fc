"""The schedule admin through Django's test client, on the real database (and real Redis for run now)."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from orchestrator.models import Job, RunStatus
from scheduling.models import Schedule, ScheduledRun
from tests import factories
from tests.doors import form_data
from tests.records import run_for, staff_user

CHANGELIST = "/admin/scheduling/schedule/"
ADD = "/admin/scheduling/schedule/add/"


def change_url(schedule: Schedule) -> str:
    return reverse("admin:scheduling_schedule_change", args=[schedule.pk])


def field_errors(response: Any, field: str) -> list[str]:
    form = response.context["adminform"].form
    return [str(message) for message in form.errors.get(field, [])]


def text(response: Any) -> str:
    return html.unescape(response.content.decode())


# --- the list -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_list_shows_words_zone_next_run_with_utc_and_last_run_status(admin_client: Client) -> None:
    cron = factories.schedule(
        "noop",
        name="berlin-nine",
        kind="cron",
        cron="0 9 * * *",
        timezone="Europe/Berlin",
        start_at=datetime(2030, 1, 1, tzinfo=UTC),
    )
    interval = factories.schedule("sleep", name="five-minutes", interval_seconds=300)
    once = factories.schedule(
        "noop", name="one-off", kind="once", run_at=datetime(2030, 6, 1, 12, tzinfo=UTC), timezone="Asia/Tokyo"
    )
    run_for(cron, status=RunStatus.FAILED, created_at=timezone.now() - timedelta(minutes=1))
    run_for(interval, status=RunStatus.SUCCEEDED)

    page = text(admin_client.get(CHANGELIST))

    assert "At 09:00 (Europe/Berlin)" in page
    assert "every 5 minutes" in page
    assert "once at 2030-06-01 21:00:00 JST (Asia/Tokyo)" in page
    # Next run in the schedule's zone, UTC beside it and on hover.
    assert "2030-01-01 09:00:00 CET (08:00 UTC)" in page  # one line, one format everywhere
    assert 'title="2030-01-01 08:00:00 UTC"' in page
    assert "p.m." not in page and "a.m." not in page
    # Last run status at a glance: a coloured badge with an icon; "never" for the one-off.
    assert 'data-status="failed"' in page and "✖ failed" in page
    assert 'data-status="succeeded"' in page and "✔ succeeded" in page
    assert "ost-status-none" in page
    assert once.name in page


@pytest.mark.django_db
def test_filters_and_search(admin_client: Client) -> None:
    failing = factories.schedule("noop", name="alpha-failing", tenant="acme")
    fine = factories.schedule("sleep", name="beta-fine", kind="cron", cron="*/5 * * * *")
    never = factories.schedule("noop", name="gamma-never", enabled=False)
    run_for(failing, status=RunStatus.SUCCEEDED, created_at=timezone.now() - timedelta(hours=1))
    run_for(failing, status=RunStatus.FAILED)  # the latest one decides
    run_for(fine, status=RunStatus.FAILED, created_at=timezone.now() - timedelta(hours=1))
    run_for(fine, status=RunStatus.SUCCEEDED)

    def names(query: str) -> set[str]:
        response = admin_client.get(CHANGELIST + query)
        assert response.status_code == 200, query
        return {s.name for s in response.context["cl"].result_list}

    assert names("?last_run=failed") == {"alpha-failing"}
    assert names("?last_run=succeeded") == {"beta-fine"}
    assert names("?last_run=never") == {"gamma-never"}
    assert names(f"?job__id__exact={Job.objects.get(key='sleep').pk}") == {"beta-fine"}
    assert names("?kind__exact=cron") == {"beta-fine"}
    assert names("?enabled__exact=0") == {"gamma-never"}
    assert names("?tenant=acme") == {"alpha-failing"}
    assert names("?q=gamma") == {"gamma-never"}
    assert names("?q=sleep") == {"beta-fine"}  # by job
    assert never.pk


@pytest.mark.django_db
def test_list_page_query_count_does_not_grow_with_schedules(admin_client: Client, django_assert_num_queries) -> None:
    def listed() -> int:
        response = admin_client.get(CHANGELIST)
        assert response.status_code == 200
        return len(response.context["cl"].result_list)

    for index in range(5):
        schedule = factories.schedule("noop", name=f"few-{index:03d}", tenant=f"t{index % 3}")
        run_for(schedule, status=RunStatus.SUCCEEDED)
    listed()  # warm the content-type and session caches
    with django_assert_num_queries(QUERIES_PER_SCHEDULE_LIST) as few:
        assert listed() == 5

    for index in range(95):
        schedule = factories.schedule(
            "sleep" if index % 2 else "noop", name=f"many-{index:03d}", kind="cron", cron="*/5 * * * *"
        )
        if index % 3:
            run_for(schedule, status=RunStatus.FAILED if index % 2 else RunStatus.SUCCEEDED)
    with django_assert_num_queries(QUERIES_PER_SCHEDULE_LIST) as many:
        assert listed() == 100
    assert len(few.captured_queries) == len(many.captured_queries)


#: Session, user, the count, the filtered count, the page (with the last run annotated), the
#: job filter's choices, the tenant filter's choices, the action form's select (no per-row query).
QUERIES_PER_SCHEDULE_LIST = 7


# --- the form: validation at the field ------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("changes", "field", "expected"),
    [
        ({"cron": "61 * * * *"}, "cron", "is not a valid cron expression"),
        ({"cron": "* * * *"}, "cron", "has 4 fields; expected 5"),
        ({"cron": ""}, "cron", "is required for a cron schedule"),
        ({"timezone": "Europe/Berln"}, "timezone", "unknown time zone 'Europe/Berln'. Did you mean Europe/Berlin"),
        (
            {"kind": "interval", "cron": "", "interval_seconds": "0"},
            "interval_seconds",
            "must be a positive number of seconds",
        ),
        ({"kind": "interval", "cron": "", "interval_seconds": "-5"}, "interval_seconds", "must be a positive number"),
        ({"kind": "interval", "cron": "", "interval_seconds": ""}, "interval_seconds", "is required for an interval"),
        ({"kind": "once", "cron": ""}, "run_at", "is required for a one-off schedule"),
        (
            {"start_at": "2030-02-01T00:00", "end_at": "2030-01-01T00:00"},
            "end_at",
            "must be after start_at",
        ),
        ({"job": "no_such_job"}, "job", "unknown job 'no_such_job'; jobs in this deployment: "),
        ({"params": '{"path": "x",}'}, "params", "is not valid JSON: Expecting property name"),
        ({"params": "[1, 2]"}, "params", "must be a JSON object"),
        ({"max_concurrency": "0"}, "max_concurrency", "must be at least 1, or empty for no limit"),
        ({"kind": "once", "run_at": "2030-03-31T02:30", "cron": ""}, "run_at", "does not exist in Europe/Berlin"),
        (
            {"kind": "once", "cron": "", "run_at": "2030-06-01T10:00", "jitter_seconds": "5"},
            "jitter_seconds",
            "does not",
        ),
        ({"kind": "once", "cron": "", "run_at": "tomorrow"}, "run_at", "is not a date and time"),
        ({"misfire_grace_seconds": "0"}, "misfire_grace_seconds", "at least 1 second"),
    ],
)
def test_invalid_input_is_refused_at_the_field_with_what_is_wrong(
    admin_client: Client, changes: dict[str, Any], field: str, expected: str
) -> None:
    response = admin_client.post(ADD, form_data(**changes))
    assert response.status_code == 200, "the form must be shown again, not saved"
    errors = field_errors(response, field)
    assert any(expected in message for message in errors), errors
    assert len(errors) == 1, f"one clear message per field, got {errors}"
    assert expected in text(response)
    assert not Schedule.objects.exists()


@pytest.mark.django_db
def test_a_job_whose_code_is_gone_is_refused(admin_client: Client) -> None:
    ghost = Job.objects.create(key="ghost_job")
    response = admin_client.post(ADD, form_data(job=ghost.key))
    errors = field_errors(response, "job")
    assert errors and "'ghost_job' has no code registered" in errors[0] and "noop" in errors[0]


@pytest.mark.django_db
def test_directive_of_another_job_is_refused(admin_client: Client) -> None:
    from orchestrator.models import Directive

    directive = Directive.objects.create(name="sleepy", job=Job.objects.get(key="sleep"), params={"seconds": 1})
    response = admin_client.post(ADD, form_data(directive=directive.name))
    assert any("belongs to job 'sleep'" in message for message in field_errors(response, "directive"))


@pytest.mark.django_db
def test_wall_times_are_read_in_the_schedules_zone_and_shown_back_in_it(admin_client: Client) -> None:
    response = admin_client.post(
        ADD, form_data(kind="once", cron="", run_at="2030-06-01T09:30", timezone="America/New_York")
    )
    assert response.status_code == 302, response.context and response.context["adminform"].form.errors
    schedule = Schedule.objects.get(name="nightly-report")
    assert schedule.run_at == datetime(2030, 6, 1, 13, 30, tzinfo=UTC)  # 09:30 EDT
    page = text(admin_client.get(change_url(schedule)))
    assert 'name="run_at" value="2030-06-01T09:30:00"' in page
    # An explicit offset is honoured as given.
    admin_client.post(
        change_url(schedule),
        form_data(kind="once", cron="", run_at="2030-06-01T09:30:00+00:00", timezone="America/New_York"),
    )
    schedule.refresh_from_db()
    assert schedule.run_at == datetime(2030, 6, 1, 9, 30, tzinfo=UTC)


# --- the preview ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_change_page_previews_the_next_five_fire_times_in_the_zone_and_utc(admin_client: Client) -> None:
    schedule = factories.schedule(
        "noop", kind="cron", cron="0 9 * * *", timezone="Europe/Berlin", start_at=datetime(2030, 3, 28, tzinfo=UTC)
    )
    page = text(admin_client.get(change_url(schedule)))
    rows = re.findall(r"<tr><td>(\d)</td><td><time[^>]*>([^<]+)</time></td><td>([^<]+)</td></tr>", page)
    assert rows == [
        ("1", "2030-03-28 09:00:00 CET", "2030-03-28 08:00:00 UTC"),
        ("2", "2030-03-29 09:00:00 CET", "2030-03-29 08:00:00 UTC"),
        ("3", "2030-03-30 09:00:00 CET", "2030-03-30 08:00:00 UTC"),
        ("4", "2030-03-31 09:00:00 CEST", "2030-03-31 07:00:00 UTC"),
        ("5", "2030-04-01 09:00:00 CEST", "2030-04-01 07:00:00 UTC"),
    ]
    assert "At 09:00 (Europe/Berlin)" in page


@pytest.mark.django_db
def test_saving_updates_the_preview_and_says_when_it_runs_next(admin_client: Client) -> None:
    schedule = factories.schedule("noop", kind="cron", cron="0 9 * * *", timezone="UTC")
    response = admin_client.post(
        change_url(schedule),
        form_data(name=schedule.name, cron="30 6 * * *", timezone="UTC", start_at="2030-01-01T00:00", _continue="1"),
        follow=True,
    )
    page = text(response)
    assert "next runs at 2030-01-01 06:30:00 UTC" in page
    assert "<td>2030-01-05 06:30:00 UTC</td>" in page


@pytest.mark.django_db
def test_live_preview_answers_for_the_form_as_typed_without_saving(admin_client: Client) -> None:
    url = reverse("admin:scheduling_schedule_preview")
    answer = admin_client.post(
        url, form_data(cron="*/15 * * * *", timezone="Asia/Kolkata", start_at="2030-01-01T00:00")
    ).json()
    assert answer["errors"] == {}
    assert answer["description"].startswith("Every 15 minutes (Asia/Kolkata)")
    assert [t["local"] for t in answer["times"]] == [
        "2030-01-01 00:00:00 IST",
        "2030-01-01 00:15:00 IST",
        "2030-01-01 00:30:00 IST",
        "2030-01-01 00:45:00 IST",
        "2030-01-01 01:00:00 IST",
    ]
    assert answer["times"][0]["utc"] == "2029-12-31 18:30:00 UTC"

    broken = admin_client.post(url, form_data(cron="*/15 * * *", name="")).json()
    assert broken["times"] == []
    assert list(broken["errors"]) == ["cron"], "only timing errors: a missing name does not stop the preview"
    assert not Schedule.objects.exists()


@pytest.mark.django_db
def test_live_preview_needs_a_permission(client: Client) -> None:
    client.force_login(staff_user("viewer", "scheduling.view_schedule"))
    assert client.post(reverse("admin:scheduling_schedule_preview"), form_data()).status_code == 403


# --- history --------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_edits_are_recorded_in_the_admin_history_with_old_and_new_values(admin_client: Client) -> None:
    admin_client.post(ADD, form_data(job="sleep"))
    schedule = Schedule.objects.get(name="nightly-report")
    admin_client.post(change_url(schedule), form_data(job="sleep", cron="*/10 * * * *", params='{"seconds": 2}'))
    entries = LogEntry.objects.filter(object_id=str(schedule.pk)).order_by("action_time")
    assert [e.action_flag for e in entries] == [1, CHANGE]
    message = entries[1].get_change_message()
    assert "Cron: '0 2 * * *' → '*/10 * * * *'" in message
    assert 'Params: (empty) → {"seconds": 2}' in message or '{} → {"seconds"' in message
    history = text(admin_client.get(reverse("admin:scheduling_schedule_history", args=[schedule.pk])))
    assert "Cron: '0 2 * * *' → '*/10 * * * *'" in history


# --- inline occurrences ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_recent_occurrences_are_inline_newest_first_and_limited(admin_client: Client) -> None:
    schedule = factories.schedule("noop", kind="cron", cron="*/5 * * * *")
    start = datetime(2030, 1, 1, tzinfo=UTC)
    runs = [
        run_for(
            schedule,
            scheduled_for=start + timedelta(minutes=5 * i),
            created_at=start + timedelta(minutes=5 * i),
            status=RunStatus.FAILED if i == 24 else RunStatus.SUCCEEDED,
            duration=timedelta(milliseconds=1500),
        )
        for i in range(25)
    ]
    response = admin_client.get(change_url(schedule))
    page = text(response)
    formset = response.context["inline_admin_formsets"][0].formset
    shown = [form.instance.run_id for form in formset.forms]
    assert shown == [run.id for run in reversed(runs)][:20]
    assert f'/admin/orchestrator/run/{runs[24].id}/change/"' in page
    assert f'/admin/orchestrator/run/{runs[4].id}/change/"' not in page  # older than the newest 20
    assert "1.5 s" in page and "✖ failed" in page
    # Saving the schedule never writes the read-only occurrences.
    admin_client.post(change_url(schedule), form_data(name=schedule.name, kind="cron", cron="*/5 * * * *"))
    assert ScheduledRun.objects.filter(schedule=schedule).count() == 25
