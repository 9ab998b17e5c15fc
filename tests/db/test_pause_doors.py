"""Pause and resume at every door: the API, the admin (actions and buttons), /schedules/, the CLI.

Each pauses through the one service (``scheduling.engine.controls``): the note, who and until when
are recorded, the admin history has the note, the event log has the events, and a user without
``scheduling.change_schedule`` cannot do either. YAML's ``paused:`` is in ``test_yaml_controls``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from scheduling.models import Schedule
from tests import factories

pytestmark = pytest.mark.django_db


def _user(name: str, *perms: str):
    user = get_user_model().objects.create_user(name, password=f"{name}-password-1", is_staff=True)
    for perm in perms:
        app, codename = perm.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app, codename=codename))
    return get_user_model().objects.get(pk=user.pk)


@pytest.fixture
def editor():
    return _user("editor", "scheduling.view_schedule", "scheduling.change_schedule")


@pytest.fixture
def viewer():
    return _user("viewer", "scheduling.view_schedule")


def _api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _history(schedule: Schedule) -> list[str]:
    return [entry.get_change_message() for entry in LogEntry.objects.filter(object_id=str(schedule.pk)).order_by("pk")]


# --- API ----------------------------------------------------------------------------------------------


def test_api_pauses_with_a_note_and_a_time_then_resumes(editor):
    schedule = factories.schedule(name="api-paused", kind="interval", interval_seconds=60, timezone="Europe/Berlin")
    api = _api(editor)
    until = (timezone.now() + timedelta(days=1)).replace(microsecond=0)
    body = {"note": "release freeze", "resume_at": until.isoformat()}
    answer = api.post(f"/api/schedules/{schedule.pk}/pause/", body, format="json")
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["state"] == "paused" and body["enabled"] is False
    assert body["pause_note"] == "release freeze" and body["paused_by"] == "editor"
    assert datetime.fromisoformat(body["resume_at"].replace("Z", "+00:00")) == until
    assert body["paused_at"] is not None

    again = api.post(f"/api/schedules/{schedule.pk}/pause/", {"note": "twice"}, format="json")
    assert again.status_code == 409 and "release freeze" in again.json()["detail"]
    assert "only an enabled schedule can be paused" in again.json()["detail"]

    stamp = until.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    assert _history(schedule) == [f"Paused through the API until {stamp}: release freeze"]
    resumed = api.post(f"/api/schedules/{schedule.pk}/resume/")
    assert resumed.status_code == 200 and resumed.json()["state"] == "enabled"
    assert resumed.json()["pause_note"] == "" and resumed.json()["resume_at"] is None
    assert _history(schedule)[-1] == "Resumed through the API (the pause's note was: release freeze)."
    not_paused = api.post(f"/api/schedules/{schedule.pk}/resume/")
    assert not_paused.status_code == 409 and "not paused" in not_paused.json()["detail"]


def test_api_pause_refuses_bad_input_naming_the_field(editor):
    schedule = factories.schedule(name="api-bad", timezone="Europe/Berlin")
    api = _api(editor)
    url = f"/api/schedules/{schedule.pk}/pause/"
    assert api.post(url, {}, format="json").json() == {
        "note": ["is required: say why it is paused, for whoever finds it so"]
    }
    assert "resume_at" in api.post(url, {"note": "x", "resume_at": "2020-01-01T00:00:00Z"}, format="json").json()
    assert "resume_at" in api.post(url, {"note": "x", "resume_at": "tomorrow"}, format="json").json()
    assert "note" in api.post(url, {"note": 5}, format="json").json()
    naive = (timezone.now() + timedelta(days=2)).astimezone(UTC).replace(tzinfo=None, microsecond=0)
    answer = api.post(url, {"note": "x", "resume_at": naive.isoformat()}, format="json")
    assert answer.status_code == 200
    assert Schedule.objects.get(pk=schedule.pk).resume_at.utcoffset() == timedelta(0)
    # a naive time is a wall time in the schedule's zone (Berlin is ahead of UTC)
    assert Schedule.objects.get(pk=schedule.pk).resume_at < naive.replace(tzinfo=UTC)
    assert Schedule.objects.get(pk=schedule.pk).enabled is False


def test_a_viewer_cannot_pause_or_resume_through_the_api(viewer):
    schedule = factories.schedule(name="guarded")
    api = _api(viewer)
    assert api.post(f"/api/schedules/{schedule.pk}/pause/", {"note": "no"}, format="json").status_code == 403
    assert api.post(f"/api/schedules/{schedule.pk}/resume/").status_code == 403
    assert APIClient().post(f"/api/schedules/{schedule.pk}/pause/", {"note": "no"}, format="json").status_code == 401
    assert Schedule.objects.get(pk=schedule.pk).enabled is True
    paths = _api(get_user_model().objects.create_superuser("root", password="root-password-1")).get(
        "/api/schema/", {"format": "json"}
    )
    assert "/api/schedules/{id}/pause/" in paths.json()["paths"]


# --- admin --------------------------------------------------------------------------------------------


def test_admin_pause_action_asks_a_note_then_pauses_and_writes_the_history(editor):
    first = factories.schedule(name="first")
    second = factories.schedule(name="second", enabled=False)
    client = Client()
    client.force_login(editor)
    selected = {"action": "pause_action", "_selected_action": [first.pk, second.pk]}
    page = client.post("/admin/scheduling/schedule/", selected)
    assert page.status_code == 200 and b"misfire policy" in page.content and b"Pause schedules" in page.content
    refused = client.post("/admin/scheduling/schedule/", {**selected, "apply": "1", "note": ""})
    assert refused.status_code == 200 and Schedule.objects.get(pk=first.pk).enabled
    done = client.post("/admin/scheduling/schedule/", {**selected, "apply": "1", "note": "db upgrade"})
    assert done.status_code == 302
    first.refresh_from_db()
    assert first.paused and first.pause_note == "db upgrade" and first.paused_by == "editor"
    assert not Schedule.objects.get(pk=second.pk).paused, "a disabled schedule is left as it is"
    assert _history(first)[-1] == "Paused: db upgrade"

    listing = client.get("/admin/scheduling/schedule/")
    assert b"paused" in listing.content and b"db upgrade" in listing.content

    client.post("/admin/scheduling/schedule/", {"action": "resume_action", "_selected_action": [first.pk]})
    first.refresh_from_db()
    assert first.enabled and not first.paused
    assert _history(first)[-1] == "Resumed (the pause's note was: db upgrade)."


def test_admin_pause_button_and_resume_button(editor):
    schedule = factories.schedule(name="buttons")
    client = Client()
    client.force_login(editor)
    change = client.get(f"/admin/scheduling/schedule/{schedule.pk}/change/")
    assert b'data-action="pause"' in change.content
    until = (timezone.now() + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M")
    client.post(f"/admin/scheduling/schedule/{schedule.pk}/pause/", {"note": "flaky upstream", "resume_at": until})
    schedule.refresh_from_db()
    assert schedule.paused and schedule.resume_at is not None
    change = client.get(f"/admin/scheduling/schedule/{schedule.pk}/change/")
    assert b'data-action="resume"' in change.content and b"flaky upstream" in change.content
    client.post(f"/admin/scheduling/schedule/{schedule.pk}/resume/")
    assert Schedule.objects.get(pk=schedule.pk).enabled


def test_a_viewer_cannot_pause_in_the_admin(viewer):
    schedule = factories.schedule(name="admin-guarded")
    client = Client()
    client.force_login(viewer)
    assert client.post(f"/admin/scheduling/schedule/{schedule.pk}/pause/", {"note": "x"}).status_code == 403
    assert client.post(f"/admin/scheduling/schedule/{schedule.pk}/resume/").status_code == 403
    assert Schedule.objects.get(pk=schedule.pk).enabled


# --- /schedules/ ---------------------------------------------------------------------------------------


def test_the_schedules_page_pauses_with_a_note_and_resumes(editor):
    schedule = factories.schedule(name="page-paused")
    client = Client()
    client.force_login(editor)
    listing = client.get("/schedules/")
    assert f"/schedules/{schedule.pk}/pause/".encode() in listing.content
    form = client.get(f"/schedules/{schedule.pk}/pause/")
    assert form.status_code == 200 and b"misfire policy" in form.content
    refused = client.post(f"/schedules/{schedule.pk}/pause/", {"note": ""})
    assert refused.status_code == 200 and b"errorlist" in refused.content
    assert client.post(f"/schedules/{schedule.pk}/pause/", {"note": "vendor outage"}).status_code == 302
    schedule.refresh_from_db()
    assert schedule.paused and schedule.paused_by == "editor"
    assert _history(schedule)[-1] == "Paused: vendor outage"
    listing = client.get("/schedules/")
    assert b"vendor outage" in listing.content and f"/schedules/{schedule.pk}/resume/".encode() in listing.content
    rows = client.get("/schedules/rows/").json()["rows"]
    assert rows[0]["state"] == "paused" and "vendor outage" in rows[0]["pause_text"]
    assert client.post(f"/schedules/{schedule.pk}/resume/").status_code == 302
    assert Schedule.objects.get(pk=schedule.pk).enabled
    assert _history(schedule)[-1] == "Resumed (the pause's note was: vendor outage)."


def test_the_schedules_page_refuses_a_viewer_and_needs_csrf(viewer, editor):
    schedule = factories.schedule(name="page-guarded")
    client = Client()
    client.force_login(viewer)
    assert client.post(f"/schedules/{schedule.pk}/pause/", {"note": "x"}).status_code == 403
    assert f"/schedules/{schedule.pk}/pause/".encode() not in client.get("/schedules/").content
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(editor)
    assert strict.post(f"/schedules/{schedule.pk}/pause/", {"note": "x"}).status_code == 403
    assert Schedule.objects.get(pk=schedule.pk).enabled


# --- CLI ------------------------------------------------------------------------------------------------


def _call(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_the_cli_pauses_and_resumes_by_name():
    schedule = factories.schedule(name="cli-paused")
    out = _call("pause", "cli-paused", "--note", "maintenance", "--until", "2099-01-01T00:00:00Z")
    assert out.startswith("cli-paused: paused by cli at ") and "maintenance; resumes at 2099-01-01 00:00 UTC" in out
    schedule.refresh_from_db()
    assert schedule.paused_by == "cli" and schedule.resume_at == datetime(2099, 1, 1, tzinfo=UTC)
    listed = _call("schedules")
    assert "by cli at" in listed and "maintenance" in listed
    with pytest.raises(CommandError, match="is not enabled"):
        _call("pause", "cli-paused", "--note", "again")
    assert "resumed (the pause's note was: maintenance)" in _call("resume", "cli-paused")
    with pytest.raises(CommandError, match="not paused; nothing to resume"):
        _call("resume", "cli-paused")


def test_the_cli_names_the_option_that_is_wrong():
    factories.schedule(name="cli-bad")
    with pytest.raises(CommandError, match=r"^--until: 'someday' is not a date and time"):
        _call("pause", "cli-bad", "--until", "someday")
    with pytest.raises(CommandError, match=r"^--until: must be in the future"):
        _call("pause", "cli-bad", "--note", "x", "--until", "2020-01-01T00:00:00Z")
    with pytest.raises(CommandError, match=r"^--note: is required"):
        _call("pause", "cli-bad", "--note", "  ")
    with pytest.raises(CommandError, match="no schedule named 'nope'"):
        _call("pause", "nope")
    assert Schedule.objects.get(name="cli-bad").enabled
    assert "paused with manage.py pause (no note given)" in _call("pause", "cli-bad")


def test_the_admin_filters_schedules_by_state(editor):
    factories.schedule(name="on")
    factories.schedule(name="off", enabled=False)
    paused = factories.schedule(name="held")
    Schedule.objects.filter(pk=paused.pk).update(enabled=False, pause_note="held for audit", paused_by="alice")
    client = Client()
    client.force_login(editor)

    def names(query: str) -> set[str]:
        page = client.get(f"/admin/scheduling/schedule/{query}")
        return {row.name for row in page.context["cl"].result_list}

    assert names("?state=paused") == {"held"}
    assert names("?state=disabled") == {"off"}
    assert names("?state=enabled") == {"on"}


def test_the_api_lists_schedules_by_state(editor):
    factories.schedule(name="on")
    factories.schedule(name="off", enabled=False)
    held = factories.schedule(name="held")
    Schedule.objects.filter(pk=held.pk).update(enabled=False, pause_note="held for audit", paused_by="alice")
    api = _api(editor)
    for state, expected in (("paused", ["held"]), ("disabled", ["off"]), ("enabled", ["on"])):
        found = api.get("/api/schedules/", {"state": state}).json()["results"]
        assert [row["name"] for row in found] == expected
    assert list(api.get("/api/schedules/", {"state": "asleep"}).json()) == ["state"]


def test_enabling_a_paused_schedule_at_any_door_resumes_it_with_the_event(editor, settings, tmp_path):
    import json

    settings.EVENTS_PATH = str(tmp_path / "events.jsonl")
    first, second, third = (factories.schedule(name=name) for name in ("via-api", "via-admin", "via-page"))
    for schedule in (first, second, third):
        Schedule.objects.filter(pk=schedule.pk).update(enabled=False, pause_note="frozen", paused_by="alice")
    assert _api(editor).post(f"/api/schedules/{first.pk}/enable/").json()["state"] == "enabled"
    client = Client()
    client.force_login(editor)
    client.post(f"/admin/scheduling/schedule/{second.pk}/enable/")
    client.post(f"/schedules/{third.pk}/enable/")
    for schedule in (first, second, third):
        schedule.refresh_from_db()
        assert schedule.enabled and schedule.pause_note == "" and schedule.paused_by == ""
    lines = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    resumed = [line for line in lines if line["event"] == "schedule_resumed"]
    assert sorted(line["schedule"] for line in resumed) == ["via-admin", "via-api", "via-page"]
    assert {line["note"] for line in resumed} == {"frozen"} and {line["by"] for line in resumed} == {"editor"}


def test_switching_a_paused_schedule_on_in_a_form_or_a_patch_resumes_it(editor, settings, tmp_path):
    import json

    from tests.doors import form_data

    settings.EVENTS_PATH = str(tmp_path / "events.jsonl")
    by_form = factories.schedule(name="by-form", kind="cron", cron="0 2 * * *", timezone="Europe/Berlin")
    by_patch = factories.schedule(name="by-patch")
    for schedule in (by_form, by_patch):
        Schedule.objects.filter(pk=schedule.pk).update(enabled=False, pause_note="frozen", paused_by="alice")
    client = Client()
    client.force_login(editor)
    answer = client.post(f"/schedules/{by_form.pk}/edit/", form_data(name="by-form"))
    assert answer.status_code == 302
    assert _api(editor).patch(f"/api/schedules/{by_patch.pk}/", {"enabled": True}, format="json").status_code == 200
    for schedule in (by_form, by_patch):
        schedule.refresh_from_db()
        assert schedule.enabled and not schedule.paused
    lines = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert sorted(line["schedule"] for line in lines if line["event"] == "schedule_resumed") == ["by-form", "by-patch"]
