"""The schedule admin through Django's test client, on the real database (and real Redis for run now)."""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from orchestrator.models import Job, Run, RunStatus
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
    assert "2030-01-01 09:00:00 CET" in page
    assert 'title="2030-01-01 08:00:00 UTC"' in page
    assert page.count("2030-01-01 08:00:00 UTC") >= 2
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


# --- actions --------------------------------------------------------------------------------------


def post_action(client: Client, action: str, schedules: list[Schedule], **extra: Any) -> Any:
    return client.post(
        CHANGELIST,
        {"action": action, "_selected_action": [s.pk for s in schedules], **extra},
        follow=True,
    )


@pytest.mark.django_db(transaction=True)
def test_run_now_action_goes_through_the_orchestrator_and_says_which_runs(admin_client: Client, redis_db) -> None:
    enabled = factories.schedule("noop", name="on-duty", kind="cron", cron="0 3 1 1 *")
    disabled = factories.schedule("noop", name="off-duty", kind="cron", cron="0 3 1 1 *", enabled=False)
    response = post_action(admin_client, "run_now_action", [enabled, disabled])

    runs = {run.occurrence.schedule.name: run for run in Run.objects.select_related("occurrence__schedule")}
    assert set(runs) == {"on-duty", "off-duty"}
    assert all(run.trigger == "manual" and run.status == RunStatus.QUEUED for run in runs.values())
    assert all(run.occurrence.scheduled_for is None for run in runs.values())
    assert "(the schedule is disabled)" in runs["off-duty"].occurrence.reason
    assert redis_db.llen("default") == 2, "both runs were published to the job's queue"
    notes = [str(m) for m in response.context["messages"]]
    assert any(
        "Started 2 runs" in note and str(runs["on-duty"].id)[:8] in note and str(runs["off-duty"].id)[:8] in note
        for note in notes
    ), notes
    assert any("Ran on purpose although disabled" in note and "off-duty" in note for note in notes), notes
    disabled.refresh_from_db()
    assert disabled.enabled is False and disabled.last_run_at is None
    logged = LogEntry.objects.get(object_id=str(disabled.pk))
    assert f"Ran now: run {runs['off-duty'].id}" in logged.get_change_message()


@pytest.mark.django_db
def test_enable_and_disable_actions_keep_the_next_run_consistent_and_are_recorded(admin_client: Client) -> None:
    first = factories.schedule("noop", name="first", kind="cron", cron="*/5 * * * *")
    second = factories.schedule("noop", name="second", kind="cron", cron="*/5 * * * *", enabled=False)

    response = post_action(admin_client, "disable_action", [first, second])
    notes = [str(m) for m in response.context["messages"]]
    assert "Disabled 1 schedule: “first”; 1 already disabled." in notes
    first.refresh_from_db()
    assert first.enabled is False

    response = post_action(admin_client, "enable_action", [first, second])
    assert "Enabled 2 schedules: “first”, “second”." in [str(m) for m in response.context["messages"]]
    for schedule in (first, second):
        schedule.refresh_from_db()
        assert schedule.enabled and schedule.next_run_at is not None and schedule.next_run_at > timezone.now()
    messages = [e.get_change_message() for e in LogEntry.objects.filter(object_id=str(first.pk))]
    assert messages == ["Changed Enabled: yes → no.", "Changed Enabled: no → yes."] or sorted(messages) == sorted(
        ["Changed Enabled: yes → no.", "Changed Enabled: no → yes."]
    )


@pytest.mark.django_db(transaction=True)
def test_change_page_buttons_run_now_and_toggle(admin_client: Client, redis_db) -> None:
    schedule = factories.schedule("noop", kind="cron", cron="0 3 1 1 *")
    page = text(admin_client.get(change_url(schedule)))
    assert 'data-action="run-now"' in page and 'data-action="disable"' in page

    response = admin_client.post(reverse("admin:scheduling_schedule_run_now", args=[schedule.pk]), follow=True)
    run = Run.objects.get()
    assert response.redirect_chain[-1][0] == change_url(schedule)
    assert any(str(run.id)[:8] in str(m) for m in response.context["messages"])

    admin_client.post(reverse("admin:scheduling_schedule_disable", args=[schedule.pk]))
    schedule.refresh_from_db()
    assert schedule.enabled is False
    page = text(admin_client.get(change_url(schedule)))
    assert 'data-action="enable"' in page and "This schedule is disabled" in page
    assert admin_client.get(reverse("admin:scheduling_schedule_run_now", args=[schedule.pk])).status_code == 405


# --- permissions ----------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_user_without_change_permission_can_look_but_not_run_or_toggle(client: Client, redis_db) -> None:
    schedule = factories.schedule("noop", kind="cron", cron="0 3 1 1 *")
    client.force_login(staff_user("viewer", "scheduling.view_schedule"))

    response = client.get(CHANGELIST)
    assert response.status_code == 200
    action_form = response.context["action_form"]
    offered = [name for name, _label in action_form.fields["action"].choices] if action_form else []
    assert not {"run_now_action", "enable_action", "disable_action"} & set(offered)

    for action in ("run_now_action", "disable_action"):
        post_action(client, action, [schedule])
    for name in ("run_now", "disable"):
        assert client.post(reverse(f"admin:scheduling_schedule_{name}", args=[schedule.pk])).status_code == 403
    page = text(client.get(change_url(schedule)))
    assert 'data-action="run-now"' not in page

    assert not Run.objects.exists()
    schedule.refresh_from_db()
    assert schedule.enabled is True


@pytest.mark.django_db
def test_anonymous_users_are_sent_to_log_in(client: Client) -> None:
    schedule = factories.schedule("noop")
    for url in (CHANGELIST, change_url(schedule), reverse("admin:scheduling_schedule_preview")):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/admin/login/"), url
    response = client.post(reverse("admin:scheduling_schedule_run_now", args=[schedule.pk]))
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


@pytest.mark.django_db
def test_form_data_helper_posts_every_form_field() -> None:
    from scheduling.surfaces.forms import ScheduleForm

    assert set(ScheduleForm.base_fields) <= set(form_data()), "keep form_data() in step with the form"
    assert json.loads(form_data()["params"]) == {}


@pytest.mark.django_db
def test_links_from_a_schedule_to_all_its_occurrences_and_runs(admin_client: Client) -> None:
    schedule = factories.schedule("noop", name="linked")
    other = factories.schedule("noop", name="unrelated")
    mine = run_for(schedule, status=RunStatus.SUCCEEDED)
    run_for(other, status=RunStatus.SUCCEEDED)
    page = text(admin_client.get(change_url(schedule)))
    occurrences_url = f"/admin/scheduling/scheduledrun/?schedule__id__exact={schedule.pk}"
    runs_url = f"/admin/orchestrator/run/?schedule={schedule.pk}"
    assert f'href="{occurrences_url}"' in page and f'href="{runs_url}"' in page

    occurrences = admin_client.get(occurrences_url)
    assert occurrences.status_code == 200
    assert [o.run_id for o in occurrences.context["cl"].result_list] == [mine.id]
    runs = admin_client.get(runs_url)
    assert [r.pk for r in runs.context["cl"].result_list] == [mine.id]
    assert "linked" in text(runs)


@pytest.mark.django_db
def test_a_schedule_managed_by_yaml_sync_warns_that_edits_are_overwritten(admin_client: Client) -> None:
    from scheduling.models import ScheduleSource

    synced = factories.schedule("noop", source=ScheduleSource.YAML, source_path="deploy/schedules/nightly.yaml")
    page = text(admin_client.get(change_url(synced)))
    assert "managed by YAML sync (deploy/schedules/nightly.yaml)" in page
    assert "managed by YAML sync" not in text(admin_client.get(change_url(factories.schedule("noop"))))


@pytest.mark.django_db
@pytest.mark.parametrize("url", [ADD, "/schedules/new/"])
def test_the_form_shows_each_jobs_description_and_params(admin_client: Client, url: str) -> None:
    page = text(admin_client.get(url))
    assert 'value="sleep" data-description="Sleeps for params.seconds (default 1)."' in page
    assert 'data-params="seconds (a number, at least 0, default 1): how long to sleep"' in page
    assert (
        'value="noop" data-description="Does nothing; measures the platform\'s own cost per run." data-params="none"'
        in page
    )
