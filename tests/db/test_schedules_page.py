"""The /schedules/ page through Django's test client: list, refresh data, run now, enable/disable, form."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from orchestrator import ids
from orchestrator.models import Job, Run, RunStatus
from scheduling.models import Schedule
from tests import factories
from tests.doors import form_data
from tests.records import run_for, staff_user

LIST = "/schedules/"
JSON: dict[str, Any] = {"headers": {"Accept": "application/json"}}


def text(response: Any) -> str:
    return html.unescape(response.content.decode())


def operator(username: str = "operator", *perms: str) -> User:
    """A non-staff user of the schedules page (it does not need the admin)."""
    user = staff_user(username, *(perms or ("scheduling.view_schedule", "scheduling.change_schedule")))
    user.is_staff = False
    user.save()
    return User.objects.get(pk=user.pk)


@pytest.mark.django_db
def test_anonymous_users_are_redirected_to_log_in(client: Client) -> None:
    schedule = factories.schedule("noop")
    for url in (LIST, "/schedules/rows/", "/schedules/new/", f"/schedules/{schedule.pk}/edit/"):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"] == f"/accounts/login/?next={url}"
    response = client.post(f"/schedules/{schedule.pk}/run-now/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert not Run.objects.exists()


@pytest.mark.django_db
def test_logging_in_lands_on_the_schedules_page(client: Client) -> None:
    operator("ops")
    page = client.get("/accounts/login/?next=/schedules/")
    assert page.status_code == 200 and 'name="username"' in text(page)
    response = client.post("/accounts/login/", {"username": "ops", "password": "pw-ops", "next": "/schedules/"})
    assert response.status_code == 302 and response["Location"] == "/schedules/"
    assert client.get("/").headers["Location"] == "/schedules/"
    client.post("/accounts/logout/")
    assert client.get(LIST).status_code == 302, "logged out"
    wrong = client.post("/accounts/login/", {"username": "ops", "password": "nope"})
    assert "didn't match" in text(wrong)


@pytest.mark.django_db
def test_the_list_shows_id_name_job_kind_next_and_last_run_and_enabled(client: Client) -> None:
    from datetime import UTC, datetime

    berlin = factories.schedule(
        "noop",
        name="berlin-nine",
        kind="cron",
        cron="0 9 * * *",
        timezone="Europe/Berlin",
        start_at=datetime(2030, 1, 1, tzinfo=UTC),
    )
    paused = factories.schedule("sleep", name="paused", enabled=False)
    run_for(berlin, status=RunStatus.TIMED_OUT)
    client.force_login(operator())
    page = text(client.get(LIST))
    row = re.search(rf'<tr data-schedule-id="{berlin.pk}".*?</tr>', page, re.S)
    assert row, page
    cells = row.group(0)
    for expected in (
        f'<td data-cell="id">{berlin.pk}</td>',
        "berlin-nine",
        "At 09:00 (Europe/Berlin)",
        "<code>noop</code>",
        '<td data-cell="kind">cron</td>',
        "2030-01-01 09:00:00 CET",
        "2030-01-01 08:00:00 UTC",
        'data-status="timed_out"',
        "timed out",
        "enabled",
        "Run now",
        "Disable",
    ):
        assert expected in cells, expected
    found = re.search(rf'<tr data-schedule-id="{paused.pk}".*?</tr>', page, re.S)
    assert found
    paused_row = found.group(0)
    assert 'data-enabled="false"' in paused_row and "— (disabled)" in paused_row and ">Enable<" in paused_row
    assert "fixed interval" in paused_row and 'data-status="">never' in paused_row


@pytest.mark.django_db
def test_rows_endpoint_serves_the_same_rows_for_the_refresh_in_constant_queries(
    client: Client, django_assert_num_queries
) -> None:
    client.force_login(operator())
    for index in range(3):
        run_for(factories.schedule("noop", name=f"s-{index:03d}"), status=RunStatus.SUCCEEDED)
    client.get("/schedules/rows/")
    with django_assert_num_queries(QUERIES_PER_ROWS) as few:
        data = client.get("/schedules/rows/").json()
    assert [row["name"] for row in data["rows"]] == ["s-000", "s-001", "s-002"]
    assert data["rows"][0]["last_run_status"] == "succeeded"
    assert '<tr data-schedule-id="' in data["rows"][0]["html"]
    for index in range(3, 50):
        run_for(factories.schedule("sleep", name=f"s-{index:03d}"), status=RunStatus.FAILED)
    with django_assert_num_queries(QUERIES_PER_ROWS) as many:
        data = client.get("/schedules/rows/?q=s-0").json()
    assert len(data["rows"]) == 50 and data["count"] == 50
    assert len(few.captured_queries) == len(many.captured_queries)
    assert [row["name"] for row in client.get("/schedules/rows/?q=s-049").json()["rows"]] == ["s-049"]


#: Session, user, the user's permissions (two: user and group), the count, the page with last runs.
QUERIES_PER_ROWS = 6


@pytest.mark.django_db(transaction=True)
def test_run_now_is_a_csrf_protected_post_through_the_orchestrator(redis_db) -> None:
    schedule = factories.schedule("noop", kind="cron", cron="0 3 1 1 *", enabled=False)
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator())
    url = reverse("schedules:run_now", args=[schedule.pk])

    assert client.post(url, **JSON).status_code == 403, "a POST without the CSRF token is refused"
    assert client.get(url).status_code == 405
    assert not Run.objects.exists()

    page = client.get(LIST)
    found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', text(page))
    assert found
    token = found.group(1)
    answer = client.post(url, {"csrfmiddlewaretoken": token}, **JSON).json()
    run = Run.objects.get()
    assert run.trigger == "manual" and run.status == RunStatus.QUEUED and answer["run_id"] == str(run.id)
    assert redis_db.llen("default") == 1
    assert answer["message"].startswith(f"Started run {ids.short(run.id)} of “{schedule.name}”")
    assert "disabled: it ran because you asked" in answer["message"] and answer["level"] == "warning"
    assert answer["row"]["last_run_status"] == "queued"
    assert "run_url" not in answer, "links into the admin only for staff"
    assert f"Ran now: run {run.id}" in LogEntry.objects.get(object_id=str(schedule.pk)).get_change_message()

    # Without JavaScript: the same POST redirects back with the message.
    response = client.post(url, {"csrfmiddlewaretoken": token}, follow=True)
    assert response.redirect_chain[-1][0] == LIST
    assert "Started run" in text(response)
    assert Run.objects.count() == 2


@pytest.mark.django_db
def test_enable_and_disable_answer_with_the_new_row(client: Client) -> None:
    schedule = factories.schedule("noop", kind="cron", cron="*/5 * * * *")
    client.force_login(operator())
    answer = client.post(reverse("schedules:disable", args=[schedule.pk]), **JSON).json()
    assert answer["message"] == f"Disabled “{schedule.name}”." and answer["enabled"] is False
    assert answer["row"]["enabled"] is False and ">Enable<" in answer["row"]["html"]
    schedule.refresh_from_db()
    assert schedule.enabled is False
    again = client.post(reverse("schedules:disable", args=[schedule.pk]), **JSON).json()
    assert again["message"] == f"“{schedule.name}” was already disabled." and again["level"] == "info"
    client.post(reverse("schedules:enable", args=[schedule.pk]), **JSON)
    enabled = Schedule.objects.get(pk=schedule.pk)
    assert enabled.enabled is True and enabled.next_run_at is not None
    messages = sorted(e.get_change_message() for e in LogEntry.objects.filter(object_id=str(schedule.pk)))
    assert messages == ["Changed Enabled: no → yes.", "Changed Enabled: yes → no."]


@pytest.mark.django_db
def test_without_javascript_a_toggle_returns_to_the_same_list_page(client: Client) -> None:
    schedule = factories.schedule("noop")
    client.force_login(operator())
    url = reverse("schedules:disable", args=[schedule.pk])
    response = client.post(url, headers={"Referer": "http://testserver/schedules/?q=sched&page=1"})
    assert response["Location"] == "/schedules/?q=sched&page=1"
    response = client.post(url, headers={"Referer": "https://elsewhere.example/schedules/?q=x"})
    assert response["Location"] == "/schedules/"
    response = client.post(url, headers={"Referer": "http://testserver/admin/"})
    assert response["Location"] == "/schedules/"


@pytest.mark.django_db
def test_a_user_without_change_permission_can_look_but_not_run_or_toggle(client: Client) -> None:
    schedule = factories.schedule("noop")
    client.force_login(operator("viewer", "scheduling.view_schedule"))
    page = text(client.get(LIST))
    assert schedule.name in page and "Run now" not in page and "New schedule" not in page
    for name in ("run_now", "disable", "enable"):
        assert client.post(reverse(f"schedules:{name}", args=[schedule.pk]), **JSON).status_code == 403
    assert client.get(reverse("schedules:edit", args=[schedule.pk])).status_code == 403
    assert client.get(reverse("schedules:create")).status_code == 403
    assert not Run.objects.exists()
    schedule.refresh_from_db()
    assert schedule.enabled is True

    client.force_login(operator("nobody", "orchestrator.view_run"))
    assert client.get(LIST).status_code == 403


@pytest.mark.django_db
def test_the_form_validates_exactly_like_the_admin(client: Client, admin_client: Client) -> None:
    client.force_login(operator("maker", "scheduling.view_schedule", "scheduling.add_schedule"))
    bad = form_data(cron="61 * * * *", timezone="Europe/Berln", params="{oops}")
    page_form = client.post(reverse("schedules:create"), bad).context["form"]
    admin_form = admin_client.post("/admin/scheduling/schedule/add/", bad).context["adminform"].form
    assert page_form.errors == admin_form.errors
    assert set(page_form.errors) == {"cron", "timezone", "params"}
    page = text(client.post(reverse("schedules:create"), bad))
    assert "is not a valid cron expression" in page and "Did you mean Europe/Berlin" in page
    assert not Schedule.objects.exists()


@pytest.mark.django_db
def test_create_and_edit_on_the_page(client: Client) -> None:
    client.force_login(
        operator("editor", "scheduling.view_schedule", "scheduling.add_schedule", "scheduling.change_schedule")
    )
    new = text(client.get(reverse("schedules:create")))
    assert 'data-preview-url="/schedules/preview/"' in new and "Fill in the timing fields" in new
    response = client.post(
        reverse("schedules:create"),
        form_data(name="from-the-page", cron="0 6 * * *", timezone="UTC", start_at="2030-01-01T00:00"),
        follow=True,
    )
    assert response.redirect_chain[-1][0] == LIST
    assert "Saved “from-the-page”. Next run: 2030-01-01 06:00:00 UTC" in text(response)
    schedule = Schedule.objects.get(name="from-the-page")
    assert schedule.job == Job.objects.get(key="noop")

    edit_url = reverse("schedules:edit", args=[schedule.pk])
    assert "<td>2030-01-05 06:00:00 UTC</td>" in text(client.get(edit_url))
    response = client.post(
        edit_url,
        form_data(name="from-the-page", cron="0 7 * * *", timezone="UTC", start_at="2030-01-01T00:00", _continue="1"),
        follow=True,
    )
    assert response.redirect_chain[-1][0] == edit_url
    assert "<td>2030-01-05 07:00:00 UTC</td>" in text(response)
    entries = [e.get_change_message() for e in LogEntry.objects.filter(object_id=str(schedule.pk))]
    assert "Added." in entries and "Changed Cron: '0 6 * * *' → '0 7 * * *'." in entries


@pytest.mark.django_db
def test_live_preview_on_the_page(client: Client) -> None:
    client.force_login(operator())
    answer = client.post(
        reverse("schedules:preview"), form_data(kind="interval", interval_seconds="3600", cron="", start_at="")
    ).json()
    assert answer["description"] == "every hour" and len(answer["times"]) == 5
    assert client.get(reverse("schedules:preview")).status_code == 405
