"""The races of ``test_write_races`` for the other rows the doors write: calendars, notification rules, run now.

A name another request takes between a door's own check and its write is refused in the words of
``constraints.unique_message`` at the admin and in YAML (the form again, a problem on the entry),
and a run asked for while the schedule is being deleted is a 404, as if the delete came first:
before, each of these was a 500 (an ``IntegrityError`` at the save or at the commit). An edit of
a calendar, notification rule, job or directive being deleted is a 404 too (``constraints.edited``):
before, Django's save found no row to update and inserted it again.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pytest
from django.db import models
from django.test import Client
from django.urls import reverse

from orchestrator import constraints
from orchestrator.models import Directive, Job, NotificationRule, Run
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


# --- an edit racing a delete of its row: 404, and the row stays deleted -------------------------------


def _calendar() -> models.Model:
    return Calendar.objects.create(name="edited-and-deleted", timezone="UTC", dates=["2026-12-25"])


def _rule() -> models.Model:
    return NotificationRule.objects.create(
        name="edited-and-deleted", events=["run_failed"], channel="email", target="ops@example.com"
    )


def _directive() -> models.Model:
    return Directive.objects.create(name="edited-and-deleted", job=factories.job("noop"), params={})


_CALENDAR_FORM = {
    "name": "edited-and-deleted",
    "description": "edited",
    "timezone": "UTC",
    "dates": "2026-12-25",
    "crons": "",
}
_RULE_FORM = {
    "name": "edited-and-deleted",
    "description": "edited",
    "enabled": "on",
    "events": ["run_failed"],
    "channel": "email",
    "target": "ops@example.com",
}
_EDIT = {"description": "edited"}

#: door -> (the row, the edit of it). Before, each of these answered 302 or 200 and inserted the row
#: again (Django's save found nothing to update), as if the delete had never happened.
ROW_EDITS: dict[str, tuple[Callable[[], models.Model], Callable[[Client, models.Model], Any]]] = {
    "calendar-page": (
        _calendar,
        lambda c, row: c.post(f"/schedules/calendars/{row.pk}/", {**_CALENDAR_FORM, "crons": ""}),
    ),
    "calendar-admin": (
        _calendar,
        lambda c, row: c.post(f"/admin/scheduling/calendar/{row.pk}/change/", _CALENDAR_FORM),
    ),
    "calendar-api": (
        _calendar,
        lambda c, row: c.patch(f"/api/calendars/{row.pk}/", json.dumps(_EDIT), content_type="application/json"),
    ),
    "notification-rule-admin": (
        _rule,
        lambda c, row: c.post(
            f"/admin/orchestrator/notificationrule/{row.pk}/change/",
            {**_RULE_FORM, "schedule": "", "job": "", "tenant": "", "secret": ""},
        ),
    ),
    "notification-rule-api": (
        _rule,
        lambda c, row: c.patch(
            f"/api/notification-rules/{row.pk}/", json.dumps(_EDIT), content_type="application/json"
        ),
    ),
    "job-admin": (
        lambda: Job.objects.get_or_create(key="noop")[0],
        lambda c, row: c.post(
            f"/admin/orchestrator/job/{row.pk}/change/",
            {
                "key": "noop",
                "description": "edited",
                "queue": "default",
                "max_concurrency": "",
                "timeout_seconds": "60",
                "max_retries": "0",
                "directives-TOTAL_FORMS": "0",  # the inline of its directives
                "directives-INITIAL_FORMS": "0",
            },
        ),
    ),
    "directive-admin": (
        _directive,
        lambda c, row: c.post(
            f"/admin/orchestrator/directive/{row.pk}/change/",
            {
                "name": "edited-and-deleted",
                "job": str(cast(Directive, row).job_id),
                "params": "{}",
                "description": "edited",
            },
        ),
    ),
}


@pytest.mark.parametrize("door", list(ROW_EDITS))
def test_an_edit_racing_a_delete_of_its_row_is_not_found_and_brings_nothing_back(root: Client, door: str):
    make, edit = ROW_EDITS[door]
    row = make()
    model = type(row)
    answer = race(lambda: model._default_manager.filter(pk=row.pk).delete(), lambda: edit(root, row))
    assert answer.status_code == 404, (answer.status_code, answer.content[:500])
    if door.endswith("-api"):
        noun = model._meta.verbose_name
        assert json.loads(answer.content) == {
            "detail": f"{noun} {row.pk} was deleted meanwhile (by another request); nothing was saved"
        }
    assert not model._default_manager.filter(pk=row.pk).exists(), "the deleted row is not inserted again"


@pytest.mark.parametrize("section", list(YAML_SECTIONS))
def test_a_yaml_sync_racing_a_delete_of_its_row_creates_the_row_the_file_names(tmp_path: Path, section: str):
    """The sync reads its rows locked (``select_for_update``): it waits for the delete, then creates."""
    model, text, create = YAML_SECTIONS[section]
    row = create()
    path = tmp_path / "schedules.yaml"
    path.write_text(text)
    report = race(lambda: model._default_manager.filter(pk=row.pk).delete(), lambda: yaml_sync.sync(path))
    assert [(change.action, change.name) for change in report.changes if change.action != "unchanged"] == [
        ("create", f"{model._meta.verbose_name} taken")
    ]
    [created] = model._default_manager.filter(name="taken")
    assert created.pk != row.pk, "a new row, as the file says; not the deleted one brought back"
