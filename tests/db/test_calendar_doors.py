"""Exclusion calendars at their doors: ``/api/calendars/`` (CRUD, OpenAPI, model permissions) and the admin."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client
from rest_framework.test import APIClient

from scheduling.models import Calendar
from tests import factories

pytestmark = pytest.mark.django_db


def _user(name: str, *codenames: str):
    user = get_user_model().objects.create_user(name, password=f"{name}-password-1", is_staff=True)
    for codename in codenames:
        user.user_permissions.add(Permission.objects.get(content_type__app_label="scheduling", codename=codename))
    return get_user_model().objects.get(pk=user.pk)


def _api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_calendars_are_created_read_changed_and_deleted_through_the_api():
    api = _api(_user("cal", "view_calendar", "add_calendar", "change_calendar", "delete_calendar"))
    body = {"name": "holidays", "timezone": "Europe/Berlin", "dates": ["2026-12-26", "2026-12-25"], "crons": []}
    created = api.post("/api/calendars/", body, format="json")
    assert created.status_code == 201, created.content
    calendar = created.json()
    assert calendar["dates"] == ["2026-12-25", "2026-12-26"] and calendar["schedules"] == []
    schedule = factories.schedule(name="uses-it")
    schedule.calendars.set([Calendar.objects.get(name="holidays")])

    url = f"/api/calendars/{calendar['id']}/"
    assert api.get(url).json()["schedules"] == ["uses-it"]
    assert [c["name"] for c in api.get("/api/calendars/").json()["results"]] == ["holidays"]
    changed = api.patch(url, {"crons": ["* * * * 6,0"]}, format="json")
    assert changed.status_code == 200 and changed.json()["crons"] == ["* * * * 6,0"]
    assert changed.json()["dates"] == ["2026-12-25", "2026-12-26"], "a PATCH keeps what it does not name"
    replaced = api.put(url, {"name": "holidays", "dates": [], "crons": []}, format="json")
    assert replaced.status_code == 200 and replaced.json()["dates"] == []
    assert api.delete(url).status_code == 204
    assert not Calendar.objects.exists() and list(schedule.calendars.all()) == []


def test_the_api_refuses_bad_calendars_naming_the_field_and_item():
    api = _api(get_user_model().objects.create_superuser("root", password="root-password-1"))
    answer = api.post(
        "/api/calendars/",
        {"name": "bad", "timezone": "Mars/Olympus", "dates": ["2026-12-25", "Christmas"], "crons": ["* * * *"]},
        format="json",
    )
    assert answer.status_code == 400
    errors = answer.json()
    assert set(errors) == {"timezone", "dates", "crons"}
    assert errors["dates"] == ["dates[1]: 'Christmas' is not a date; use YYYY-MM-DD"]
    assert errors["crons"][0].startswith("crons[0]: '* * * *'")
    assert api.post("/api/calendars/", {"dates": []}, format="json").json() == {
        "name": ["is required: a non-blank name such as 'weekends'"]
    }
    assert api.post("/api/calendars/", {"name": "x", "dates": "2026-12-25"}, format="json").json() == {
        "dates": ["must be a list, not '2026-12-25'"]
    }
    Calendar(name="taken").save()
    assert list(api.post("/api/calendars/", {"name": "taken"}, format="json").json()) == ["name"]
    assert not Calendar.objects.exclude(name="taken").exists()


def test_calendar_permissions_are_the_models():
    Calendar(name="weekends", crons=["* * * * 6,0"]).save()
    viewer = _api(_user("viewer", "view_calendar"))
    assert viewer.get("/api/calendars/").status_code == 200
    assert viewer.post("/api/calendars/", {"name": "x"}, format="json").status_code == 403
    pk = Calendar.objects.get().pk
    assert viewer.patch(f"/api/calendars/{pk}/", {"crons": []}, format="json").status_code == 403
    assert viewer.delete(f"/api/calendars/{pk}/").status_code == 403
    assert _api(_user("nobody")).get("/api/calendars/").status_code == 403
    assert APIClient().get("/api/calendars/").status_code == 401


def test_the_openapi_document_describes_calendars():
    api = _api(get_user_model().objects.create_superuser("root", password="root-password-1"))
    schema = api.get("/api/schema/", {"format": "json"}).json()
    assert {"/api/calendars/", "/api/calendars/{id}/"} <= set(schema["paths"])
    props = schema["components"]["schemas"]["Calendar"]["properties"]
    assert props["dates"]["type"] == "array" and props["schedules"]["readOnly"] is True


def test_the_admin_edits_calendars_one_item_per_line_and_shows_the_schedules():
    root = get_user_model().objects.create_superuser("root", password="root-password-1")
    client = Client()
    client.force_login(root)
    data = {"name": "ops", "description": "", "timezone": "UTC", "dates": "2026-12-25\n\n2026-01-01", "crons": ""}
    assert client.post("/admin/scheduling/calendar/add/", data).status_code == 302
    calendar = Calendar.objects.get(name="ops")
    assert calendar.dates == ["2026-01-01", "2026-12-25"]
    bad = client.post(f"/admin/scheduling/calendar/{calendar.pk}/change/", {**data, "crons": "not a cron"})
    assert bad.status_code == 200 and "crons" in bad.context["adminform"].form.errors
    factories.schedule(name="night-job").calendars.set([calendar])
    page = client.get(f"/admin/scheduling/calendar/{calendar.pk}/change/")
    assert b"night-job" in page.content and b"2026-01-01\n2026-12-25" in page.content
    listing = client.get("/admin/scheduling/calendar/")
    assert b"night-job" in listing.content
    assert LogEntry.objects.filter(object_id=str(calendar.pk)).exists()
