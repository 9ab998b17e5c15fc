"""The controls' fields (pause_after_failures, remaining_runs, deadline_seconds, calendars) at every door.

The same input gets the same answer through the admin, the schedules page, the API and YAML
(``tests.doors``), and what is saved is shown wherever the schedule is.
"""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from rest_framework.test import APIClient

from scheduling.models import Calendar, Schedule
from tests import factories
from tests.doors import DOORS, submit

pytestmark = pytest.mark.django_db

CONTROLS = {"pause_after_failures": 3, "remaining_runs": 5, "deadline_seconds": 600}


@pytest.fixture
def holidays() -> Calendar:
    calendar = Calendar(name="holidays", timezone="Europe/Berlin", dates=["2026-12-25"], crons=[])
    calendar.save()
    Calendar(name="weekends", crons=["* * * * 6,0"]).save()
    return calendar


@pytest.mark.parametrize("door", DOORS)
def test_the_controls_are_saved_at_every_door(door, holidays, tmp_path):
    errors = submit(
        door, {"name": f"ctl-{door}", "job": "noop", "interval_seconds": 60, **CONTROLS, "calendars": ["holidays"]},
        tmp=tmp_path,
    )  # fmt: skip
    assert errors == {}
    schedule = Schedule.objects.get(name=f"ctl-{door}")
    assert (schedule.pause_after_failures, schedule.remaining_runs, schedule.deadline_seconds) == (3, 5, 600)
    assert [c.name for c in schedule.calendars.all()] == ["holidays"]


#: (what, input, field, message): refused at every door, with this message on this field.
REFUSED = [
    ("pause after no failures", {"pause_after_failures": 0},
     "pause_after_failures", "must be at least 1, or empty to never pause by itself"),
    ("negative runs left", {"remaining_runs": -1},
     "remaining_runs", "must be 0 or more, or empty for unlimited, not -1"),
    ("a zero deadline", {"deadline_seconds": 0},
     "deadline_seconds", "must be at least 1 second, or empty for no deadline"),
    ("a deadline in words", {"deadline_seconds": "soon"},
     "deadline_seconds", "must be a whole number, not 'soon'"),
    ("an unknown calendar", {"calendars": ["holidays", "no-such"]},
     "calendars", "unknown calendar 'no-such'; calendars: holidays, weekends"),
]  # fmt: skip


@pytest.mark.parametrize("door", DOORS)
@pytest.mark.parametrize(("what", "values", "field", "message"), REFUSED, ids=[case[0] for case in REFUSED])
def test_bad_controls_are_refused_naming_the_field_at_every_door(
    door, what, values, field, message, holidays, tmp_path
):
    errors = submit(door, {"job": "noop", "interval_seconds": 60, **values}, tmp=tmp_path)
    assert errors.get(field) == [message], errors
    assert not Schedule.objects.exists(), "nothing is written"


def test_the_api_takes_and_shows_calendars_by_name_and_the_control_state(holidays):
    api = APIClient()
    api.force_authenticate(get_user_model().objects.create_superuser("root", password="root-password-1"))
    created = api.post(
        "/api/schedules/",
        {"name": "api-ctl", "job": "noop", "interval_seconds": 60, "calendars": ["weekends", "holidays"], **CONTROLS},
        format="json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["calendars"] == ["holidays", "weekends"]
    assert body["state"] == "enabled" and body["failure_streak"] == 0 and body["paused_by"] == ""
    assert body["remaining_runs"] == 5 and body["pause_after_failures"] == 3 and body["deadline_seconds"] == 600
    url = f"/api/schedules/{body['id']}/"
    changed = api.patch(url, {"calendars": [], "remaining_runs": None}, format="json")
    assert changed.status_code == 200 and changed.json()["calendars"] == [] and changed.json()["remaining_runs"] is None
    untouched = api.patch(url, {"description": "x"}, format="json").json()
    assert untouched["calendars"] == [], "a PATCH without calendars leaves them"
    refused = api.patch(url, {"calendars": "holidays"}, format="json")
    assert refused.status_code == 400 and "calendars" in refused.json()
    failure = api.patch(url, {"failure_streak": 9}, format="json")
    assert failure.status_code == 200 and Schedule.objects.get(pk=body["id"]).failure_streak == 0, "read-only"
    schema = api.get("/api/schema/", {"format": "json"}).json()
    props = schema["components"]["schemas"]["Schedule"]["properties"]
    assert props["calendars"]["type"] == "array" and "remaining_runs" in props and "paused_at" in props


def test_editing_keeps_or_replaces_calendars_in_the_forms(holidays):
    schedule = factories.schedule(name="formed")
    schedule.calendars.set([holidays])
    client = Client()
    client.force_login(get_user_model().objects.create_superuser("root", password="root-password-1"))
    page = client.get(f"/schedules/{schedule.pk}/edit/")
    assert page.context["form"].initial["calendars"] == ["holidays"]
    assert b'<option value="holidays" selected>' in page.content
    admin_page = client.get(f"/admin/scheduling/schedule/{schedule.pk}/change/")
    assert b"Consecutive failures" in admin_page.content and b"not paused" in admin_page.content


def test_the_command_line_lists_runs_left_and_json_has_the_controls(holidays):
    factories.schedule(name="limited", remaining_runs=2)
    out = StringIO()
    call_command("schedules", stdout=out)
    line = next(row for row in out.getvalue().splitlines() if row.startswith("limited"))
    assert line.split()[-6:] == ["2", "0", "-", "-", "0", "-"], "runs left, failures, deadline, calendars, overdue"
    out = StringIO()
    call_command("schedules", "--json", stdout=out)
    row = json.loads(out.getvalue())[0]
    assert row["remaining_runs"] == 2 and row["state"] == "enabled" and row["paused"] is None
    assert row["failure_streak"] == 0
