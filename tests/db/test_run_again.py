"""Run again: a new manual run of a past run's frozen snapshot, linked to it, through the one path."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import LazySettings
from django.contrib.admin.models import LogEntry
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from orchestrator import rerun
from orchestrator.models import Run, RunStatus
from scheduling.models import ScheduledRun
from tests import factories
from tests.records import run_for, staff_user


@pytest.fixture(autouse=True)
def event_log(settings: LazySettings, tmp_path: Path) -> Path:
    settings.EVENTS_PATH = tmp_path / "events.jsonl"
    settings.ARTIFACTS_DIR = tmp_path / "artifacts"
    return Path(settings.EVENTS_PATH)


@pytest.mark.django_db(transaction=True)
def test_run_again_keeps_the_frozen_params_even_after_the_schedule_changed(admin_client: Client, redis_db) -> None:
    schedule = factories.schedule("sleep", name="nightly", params={"seconds": 1})
    original = run_for(schedule, status=RunStatus.FAILED, scheduled_for=timezone.now().replace(microsecond=0))
    schedule.params = {"seconds": 9}
    schedule.save()

    page = admin_client.get(reverse("admin:orchestrator_run_change", args=[original.pk])).content.decode()
    assert 'data-action="run-again"' in page
    response = admin_client.post(reverse("admin:orchestrator_run_again", args=[original.pk]))
    again = Run.objects.exclude(pk=original.pk).get()
    assert response.status_code == 302 and response["Location"].endswith(f"/orchestrator/run/{again.pk}/change/")

    assert again.trigger == "manual" and again.status == RunStatus.QUEUED  # published after commit
    assert again.directive_snapshot["params"] == {"seconds": 1}  # the original's, not today's 9
    assert again.directive_snapshot[rerun.RERUN_OF] == str(original.pk)
    assert again.directive_snapshot["schedule"]["name"] == "nightly"
    assert again.directive_snapshot["schedule"]["scheduled_for"] is None  # not an occurrence
    occurrence = ScheduledRun.objects.get(run=again)
    assert occurrence.schedule == schedule and occurrence.scheduled_for is None
    assert f"run again of {original.pk}" in occurrence.reason
    assert LogEntry.objects.filter(object_id=str(again.pk), change_message__contains="run again of").exists()

    shown = admin_client.get(response["Location"]).content.decode()
    assert f'data-rerun-of="{original.pk}"' in shown
    assert reverse("admin:orchestrator_run_change", args=[original.pk]) in shown


@pytest.mark.django_db(transaction=True)
def test_run_again_needs_the_run_now_permission_and_a_post(client: Client, redis_db) -> None:
    original = run_for(factories.schedule("noop"))
    url = reverse("admin:orchestrator_run_again", args=[original.pk])
    viewer = staff_user("viewer", "orchestrator.view_run")
    client.force_login(viewer)
    page = client.get(reverse("admin:orchestrator_run_change", args=[original.pk])).content.decode()
    assert 'data-action="run-again"' not in page
    assert client.post(url).status_code == 403
    client.force_login(staff_user("operator", "orchestrator.view_run", "scheduling.change_schedule"))
    assert client.get(url).status_code == 405
    assert client.post(url).status_code == 302
    assert Run.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_run_of_a_deleted_schedule_runs_again_without_an_occurrence(redis_db) -> None:
    schedule = factories.schedule("noop", name="gone")
    original = run_for(schedule)
    ScheduledRun.objects.filter(schedule=schedule).delete()
    schedule.delete()
    again = rerun.run_again(original, actor="cli", now=timezone.now())
    assert rerun.rerun_of(again) == str(original.pk)
    assert not ScheduledRun.objects.filter(run=again).exists()


@pytest.mark.django_db(transaction=True)
def test_the_api_names_the_original(admin_client: Client, redis_db) -> None:
    original = run_for(factories.schedule("noop"))
    again = rerun.run_again(original, actor="admin", now=timezone.now())
    assert admin_client.get(f"/api/runs/{again.pk}/").json()["rerun_of"] == str(original.pk)
    assert admin_client.get(f"/api/runs/{original.pk}/").json()["rerun_of"] is None
