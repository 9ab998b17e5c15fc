"""The schedule admin's actions (run now, enable, disable), its permissions and its links."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from orchestrator import ids
from orchestrator.models import Run, RunStatus
from scheduling.models import Schedule
from tests import factories
from tests.db.test_admin_schedules import ADD, CHANGELIST, change_url, text
from tests.doors import form_data
from tests.records import run_for, staff_user

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
        "Started 2 runs" in note and ids.short(runs["on-duty"].id) in note and ids.short(runs["off-duty"].id) in note
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
    assert any(ids.short(run.id) in str(m) for m in response.context["messages"])

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
@pytest.mark.parametrize(
    ("source", "words"),
    [
        ("code", "defined in code, in the Celery app's beat_schedule: edits to its task, arguments and timing made "
         "here are overwritten by the next sync (when a beat starts, or by manage.py sync_beat_schedule)"),
        ("celery_beat", "imported from django-celery-beat: running manage.py import_celery_beat again overwrites "
         "edits to its task, arguments, timing and description made here"),
    ],
)  # fmt: skip
def test_a_schedule_from_beat_schedule_or_the_import_warns_that_edits_are_overwritten(
    admin_client: Client, source: str, words: str
) -> None:
    synced = factories.schedule("noop", source=source)
    assert words in text(admin_client.get(change_url(synced)))
    assert words in text(admin_client.get(f"/schedules/{synced.pk}/edit/"))
    assert "overwritten" not in text(admin_client.get(change_url(factories.schedule("noop"))))


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
