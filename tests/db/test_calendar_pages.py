"""Exclusion calendars on the schedules pages (``/schedules/calendars/``): listed, created, edited and
deleted with the admin's validation, the model permissions, the admin history and the audit trail."""

from __future__ import annotations

import html

import pytest
from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.test import Client
from rest_framework.test import APIClient

from orchestrator import audit
from scheduling.models import Calendar
from tests import factories
from tests.records import staff_user

pytestmark = pytest.mark.django_db

ALL = ("view", "add", "change", "delete")


def _client(name: str, *actions: str, also: tuple[str, ...] = ()) -> tuple[Client, int]:
    user = staff_user(name, *(f"scheduling.{action}_calendar" for action in actions), *also)
    client = Client()
    client.force_login(user)
    return client, user.pk


def _text(response) -> str:
    return html.unescape(response.content.decode())


def test_the_list_shows_each_calendar_with_its_dates_crons_and_schedules_and_is_linked_from_schedules():
    calendar = Calendar.objects.create(name="berlin-holidays", timezone="Europe/Berlin", dates=["2026-12-25"])
    Calendar.objects.create(name="weekends", crons=["* * * * 6,0"])
    schedule = factories.schedule(name="nightly")
    schedule.calendars.set([calendar])
    client, _ = _client("viewer", "view", also=("scheduling.view_schedule",))
    page = _text(client.get("/schedules/calendars/"))
    assert 'data-calendar="berlin-holidays"' in page and 'data-calendar="weekends"' in page
    row = page[page.index('data-calendar="berlin-holidays"') : page.index('data-calendar="weekends"')]
    assert "Europe/Berlin" in row and "2026-12-25" in row and 'data-schedules="1"' in row and "nightly" in row
    assert "<code>* * * * 6,0</code>" in page
    assert "New calendar" not in page and "Delete…" not in page, "a viewer is offered no change"
    assert 'href="/schedules/calendars/"' in _text(client.get("/schedules/")), "the schedules page links to it"
    searched = _text(client.get("/schedules/calendars/?q=week"))
    assert 'data-calendar="weekends"' in searched and 'data-calendar="berlin-holidays"' not in searched


def test_each_page_asks_the_calendar_permission_of_the_admin_and_the_api():
    calendar = Calendar.objects.create(name="holidays", dates=["2026-12-25"])
    nobody, _ = _client("nobody")
    viewer, _ = _client("viewer", "view")
    one = f"/schedules/calendars/{calendar.pk}/"
    pages = ["/schedules/calendars/new/", one, f"{one}delete/"]
    assert nobody.get("/schedules/calendars/").status_code == 403
    for url in pages:
        assert nobody.get(url).status_code == 403, url
        assert viewer.get(url).status_code == 403, url
        assert viewer.post(url, {"name": "x"}).status_code == 403, url
    assert Calendar.objects.get().name == "holidays", "nothing was written"
    adder, _ = _client("adder", "add")
    assert adder.get("/schedules/calendars/new/").status_code == 200
    assert adder.get(f"/schedules/calendars/{calendar.pk}/").status_code == 403
    deleter, _ = _client("deleter", "delete")
    assert deleter.get(f"/schedules/calendars/{calendar.pk}/delete/").status_code == 200


def test_a_bad_calendar_is_refused_naming_the_field_in_the_words_of_the_api():
    client, _ = _client("editor", *ALL)
    api = APIClient()
    api.force_authenticate(staff_user("api-user", "scheduling.add_calendar"))
    bad = {"name": "bad", "timezone": "Mars/Olympus", "dates": ["2026-02-30"], "crons": ["61 * * * *"]}
    refused = api.post("/api/calendars/", bad, format="json").json()
    page = client.post(
        "/schedules/calendars/new/",
        {"name": "bad", "timezone": "Mars/Olympus", "dates": "2026-02-30", "crons": "61 * * * *"},
    )
    assert page.status_code == 200
    shown = _text(page)
    for field in ("timezone", "dates", "crons"):
        assert refused[field], field
        for message in refused[field]:
            assert message in shown, (field, message)
        assert f'data-row="{field}"' in shown
    assert not Calendar.objects.exists()
    Calendar.objects.create(name="taken")
    again = _text(client.post("/schedules/calendars/new/", {"name": "taken", "timezone": "UTC"}))
    taken = api.post("/api/calendars/", {"name": "taken"}, format="json").json()["name"]
    assert taken == ["another calendar already has this name; choose a name no other calendar has"]
    assert taken[0] in again
    assert Calendar.objects.count() == 1


def test_create_edit_and_delete_write_the_admin_history_and_the_audit_trail():
    client, user_id = _client("editor", *ALL)
    created = client.post(
        "/schedules/calendars/new/",
        {"name": "holidays", "timezone": "Europe/Berlin", "dates": "2026-12-26\n2026-12-25\n", "crons": ""},
    )
    assert created.status_code == 302 and created["Location"] == "/schedules/calendars/"
    calendar = Calendar.objects.get(name="holidays")
    assert calendar.dates == ["2026-12-25", "2026-12-26"] and calendar.timezone == "Europe/Berlin"
    added = LogEntry.objects.get(object_id=str(calendar.pk), action_flag=ADDITION)
    assert added.user_id == user_id
    first = audit.entries_for(calendar).get()
    assert (first.action, first.door, first.actor) == ("created", audit.WEB, "editor")

    edit = f"/schedules/calendars/{calendar.pk}/"
    form = _text(client.get(edit))
    assert "2026-12-25\n2026-12-26" in form, "the dates shown one per line"
    changed = client.post(
        edit, {"name": "holidays", "timezone": "Europe/Berlin", "dates": "2026-12-25", "crons": "* * * * 6,0"}
    )
    assert changed.status_code == 302
    calendar.refresh_from_db()
    assert calendar.dates == ["2026-12-25"] and calendar.crons == ["* * * * 6,0"]
    logged = LogEntry.objects.get(object_id=str(calendar.pk), action_flag=CHANGE)
    assert logged.user_id == user_id and "Dates" in logged.get_change_message()
    entry = audit.entries_for(calendar).filter(action="changed").get()
    assert entry.door == audit.WEB and entry.actor == "editor"
    assert entry.changes["crons"] == {"before": [], "after": ["* * * * 6,0"]}
    assert entry.changes["dates"]["before"] == ["2026-12-25", "2026-12-26"]

    schedule = factories.schedule(name="uses-it")
    schedule.calendars.set([calendar])
    delete = f"/schedules/calendars/{calendar.pk}/delete/"
    confirm = _text(client.get(delete))
    assert "uses-it" in confirm and 'data-attached="1"' in confirm and Calendar.objects.exists(), "GET only asks"
    deleted = client.post(delete)
    assert deleted.status_code == 302 and deleted["Location"] == "/schedules/calendars/"
    assert not Calendar.objects.exists() and list(schedule.calendars.all()) == [], "detached from its schedules"
    assert LogEntry.objects.get(object_id=str(calendar.pk), action_flag=DELETION).user_id == user_id
    gone = audit.entries_for(Calendar, calendar.pk).filter(action="deleted").get()
    assert gone.door == audit.WEB and gone.actor == "editor"
