"""Exclusion calendars at the command line: ``manage.py calendars list|set|delete``, validated as at
every door (errors naming the option, in the API's words) and recorded in the audit trail as cli."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from orchestrator import audit
from scheduling.models import Calendar
from tests import factories
from tests.records import staff_user

pytestmark = pytest.mark.django_db


def _call(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_calendars_command_lists_sets_and_deletes_as_cli():
    created = _call("calendars", "set", "berlin", "--timezone", "Europe/Berlin", "--date", "2026-12-26",
                    "--date", "2026-12-25", "--cron", "* * * * 6,0")  # fmt: skip
    assert created.startswith("created calendar berlin")
    calendar = Calendar.objects.get(name="berlin")
    assert calendar.timezone == "Europe/Berlin" and calendar.dates == ["2026-12-25", "2026-12-26"]
    assert calendar.crons == ["* * * * 6,0"]
    schedule = factories.schedule(name="uses-it")
    schedule.calendars.set([calendar])
    table = _call("calendars").splitlines()
    assert table[0].split() == ["NAME", "TIMEZONE", "DATES", "CRONS", "SCHEDULES"]
    assert table[1].split() == [
        "berlin",
        "Europe/Berlin",
        "2026-12-25,2026-12-26",
        "*",
        "*",
        "*",
        "*",
        "6,0",
        "uses-it",
    ]
    for args in (("calendars", "--json"), ("calendars", "list", "--json")):
        assert json.loads(_call(*args)) == [
            {
                "name": "berlin",
                "description": "",
                "timezone": "Europe/Berlin",
                "dates": ["2026-12-25", "2026-12-26"],
                "crons": ["* * * * 6,0"],
                "schedules": ["uses-it"],
            }
        ]
    changed = _call("calendars", "set", "berlin", "--cron", "none", "--description", "holidays")
    assert changed.startswith("changed calendar berlin") and "crons" in changed
    calendar.refresh_from_db()
    assert calendar.crons == [] and calendar.dates == ["2026-12-25", "2026-12-26"], "a field not given is kept"
    assert _call("calendars", "set", "berlin", "--cron", "none").strip() == "calendar berlin: nothing changed"
    assert _call("calendars", "delete", "berlin").strip() == "deleted calendar berlin (detached from uses-it)"
    assert not Calendar.objects.exists() and list(schedule.calendars.all()) == []
    actions = [(e.action, e.door, e.actor) for e in audit.entries_for(Calendar, calendar.pk).order_by("at", "id")]
    assert actions == [("created", "cli", "cli"), ("changed", "cli", "cli"), ("deleted", "cli", "cli")]
    with pytest.raises(CommandError, match="no calendar named 'berlin'"):
        _call("calendars", "delete", "berlin")


def test_calendars_set_refuses_bad_values_naming_the_option_in_the_words_of_the_api():
    api = APIClient()
    api.force_authenticate(staff_user("api", "scheduling.add_calendar"))
    bad = {"name": "bad", "timezone": "Mars/Olympus", "dates": ["2026-02-30"], "crons": ["61 * * * *"]}
    said = api.post("/api/calendars/", bad, format="json").json()
    with pytest.raises(CommandError) as refused:
        _call("calendars", "set", "bad", "--timezone", "Mars/Olympus", "--date", "2026-02-30", "--cron", "61 * * * *")
    text = str(refused.value)
    assert f"--timezone: {said['timezone'][0]}" in text
    assert f"--date: {said['dates'][0]}" in text and f"--cron: {said['crons'][0]}" in text
    assert not Calendar.objects.exists(), "nothing saved"
    with pytest.raises(CommandError, match="NAME: "):
        _call("calendars", "set", "bad\udcff", "--date", "2026-12-25")
