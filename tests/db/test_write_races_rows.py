"""The races of ``test_write_races`` for the other rows the doors write: calendars, notification rules, run now.

A name another request takes between a door's own check and its write is refused in the words of
``constraints.unique_message`` at the admin and in YAML (the form again, a problem on the entry),
and a run asked for while the schedule is being deleted is a 404, as if the delete came first:
before, each of these was a 500 (an ``IntegrityError`` at the save or at the commit).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.db import models
from django.test import Client
from django.urls import reverse

from orchestrator import constraints
from orchestrator.models import NotificationRule, Run
from scheduling.models import Calendar, Schedule
from scheduling.surfaces import yaml_sync
from tests import factories
from tests.db.test_write_races import _form_errors, race
from tests.db.test_write_races import root as root  # the fixture: a logged-in superuser

pytestmark = pytest.mark.django_db(transaction=True)


def _taken(model: type[models.Model]) -> str:
    return constraints.unique_message(model, ["name"])


ADMIN_ADDS: dict[str, tuple[type[models.Model], str, dict[str, Any], Callable[[], Any]]] = {
    "calendar": (
        Calendar,
        "/admin/scheduling/calendar/add/",
        {"name": "taken", "description": "", "timezone": "UTC", "dates": "2026-12-25", "crons": ""},
        lambda: Calendar.objects.create(name="taken", timezone="UTC"),
    ),
    "notification-rule": (
        NotificationRule,
        "/admin/orchestrator/notificationrule/add/",
        {
            "name": "taken",
            "description": "",
            "enabled": "on",
            "events": ["run_failed"],
            "schedule": "",
            "job": "",
            "tenant": "",
            "channel": "email",
            "target": "ops@example.com",
            "secret": "",
        },
        lambda: NotificationRule.objects.create(
            name="taken", events=["run_failed"], channel="email", target="other@example.com"
        ),
    ),
}


@pytest.mark.parametrize("kind", list(ADMIN_ADDS))
def test_an_admin_add_racing_a_create_of_its_name_shows_the_form_with_the_name_taken(root: Client, kind: str):
    model, url, data, create_elsewhere = ADMIN_ADDS[kind]
    answer = race(create_elsewhere, lambda: root.post(url, data))
    assert answer.status_code == 200, (answer.status_code, answer.content[:300])
    assert _form_errors(answer) == {"name": [_taken(model)]}
    assert model._default_manager.filter(name="taken").count() == 1  # the other request's


YAML_SECTIONS: dict[str, tuple[type[models.Model], str, Callable[[], Any]]] = {
    "calendars": (
        Calendar,
        "calendars:\n  - name: taken\n    dates: ['2026-12-25']\n",
        lambda: Calendar.objects.create(name="taken", timezone="UTC"),
    ),
    "notifications": (
        NotificationRule,
        "notifications:\n  - name: taken\n    events: [run_failed]\n    channel: email\n    target: ops@example.com\n",
        lambda: NotificationRule.objects.create(
            name="taken", events=["run_failed"], channel="email", target="other@example.com"
        ),
    ),
}


@pytest.mark.parametrize("section", list(YAML_SECTIONS))
def test_a_yaml_entry_racing_a_create_of_its_name_is_a_problem_on_the_entry(tmp_path: Path, section: str):
    model, text, create_elsewhere = YAML_SECTIONS[section]
    path = tmp_path / "schedules.yaml"
    path.write_text(text + "schedules:\n  - id: also-synced\n    job: noop\n    cron: '0 3 * * *'\n")

    def sync() -> Any:
        with pytest.raises(yaml_sync.SyncError) as refused:
            yaml_sync.sync(path)
        return refused.value

    refused = race(create_elsewhere, sync)
    assert [(p.name, p.field, p.message) for p in refused.problems] == [("taken", "name", _taken(model))]
    assert model._default_manager.filter(name="taken").count() == 1
    assert not Schedule.objects.filter(name="also-synced").exists()  # nothing of the file was applied


RUN_NOW: dict[str, Callable[[Client, Schedule], Any]] = {
    "api": lambda client, s: client.post(f"/api/schedules/{s.pk}/run-now/", content_type="application/json"),
    "schedules-page": lambda client, s: client.post(
        reverse("schedules:run_now", args=[s.pk]), headers={"Accept": "application/json"}
    ),
    "admin-button": lambda client, s: client.post(reverse("admin:scheduling_schedule_run_now", args=[s.pk])),
}


@pytest.mark.parametrize("door", list(RUN_NOW))
def test_run_now_racing_a_delete_is_not_found_and_leaves_no_run(root: Client, door: str, redis_db: Any):
    schedule = factories.schedule("noop", name="doomed", kind="cron", cron="0 2 * * *")
    answer = race(lambda: Schedule.objects.filter(pk=schedule.pk).delete(), lambda: RUN_NOW[door](root, schedule))
    assert answer.status_code == 404, (answer.status_code, answer.content[:300])
    if door == "api":
        assert json.loads(answer.content)["detail"].startswith(f"schedule {schedule.pk} was deleted meanwhile")
    assert not Run.objects.exists()  # nothing half-written: no run without its occurrence


def test_run_now_of_several_schedules_in_the_admin_runs_those_still_there(root: Client, redis_db: Any):
    kept = factories.schedule("noop", name="kept", kind="cron", cron="0 2 * * *")
    doomed = factories.schedule("noop", name="doomed", kind="cron", cron="0 2 * * *")
    answer = race(
        lambda: Schedule.objects.filter(pk=doomed.pk).delete(),
        lambda: root.post(
            "/admin/scheduling/schedule/",
            {"action": "run_now_action", "_selected_action": [doomed.pk, kept.pk]},
            follow=True,
        ),
    )
    assert answer.status_code == 200
    shown = [str(message) for message in answer.context["messages"]]
    assert "“doomed” was deleted meanwhile: not run." in shown
    assert Run.objects.count() == 1 and kept.occurrences.get().run_id is not None
