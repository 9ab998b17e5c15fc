"""Backfills in the admin: the schedules' "Backfill…" action and form (dry run, errors on fields), the list, cancel."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.test import Client

from scheduling.models import Backfill, Calendar, ScheduledRun
from tests import factories
from tests.records import staff_user

pytestmark = pytest.mark.django_db(transaction=True)

SCHEDULES = "/admin/scheduling/schedule/"
BACKFILLS = "/admin/scheduling/backfill/"


def form(**changes: Any) -> dict[str, Any]:
    return {"start": "2026-01-05 00:00:00", "end": "2026-01-12 00:00:00", "overlap_policy": "buffer_all", **changes}


def test_the_action_takes_one_schedule_to_its_form(admin_client: Client):
    one = factories.schedule("noop", name="one", kind="cron", cron="0 9 * * *")
    two = factories.schedule("noop", name="two", kind="cron", cron="0 9 * * *")
    answer = admin_client.post(SCHEDULES, {"action": "backfill_action", "_selected_action": [one.pk]})
    assert answer.status_code == 302 and answer["Location"].endswith(f"/admin/scheduling/schedule/{one.pk}/backfill/")
    both = admin_client.post(
        SCHEDULES, {"action": "backfill_action", "_selected_action": [one.pk, two.pk]}, follow=True
    )
    assert "Select exactly one schedule" in both.content.decode()


def test_a_dry_run_shows_the_fire_times_with_excluded_ones_and_writes_nothing(admin_client: Client):
    weekends = Calendar.objects.create(name="weekends", crons=["* * * * 6,0"])
    schedule = factories.schedule("noop", name="daily", kind="cron", cron="0 9 * * *")
    schedule.calendars.set([weekends])
    page = admin_client.post(f"{SCHEDULES}{schedule.pk}/backfill/", form(dry_run="on")).content.decode()
    assert "Dry run: nothing was written" in page and "7 fire times in the range" in page
    assert "2026-01-05 09:00:00" in page and page.count("<td>weekends</td>") == 2
    assert not Backfill.objects.exists() and not ScheduledRun.objects.exists()


def test_a_request_records_the_backfill_and_its_history(admin_client: Client):
    schedule = factories.schedule("noop", name="daily", kind="cron", cron="0 9 * * *")
    answer = admin_client.post(f"{SCHEDULES}{schedule.pk}/backfill/", form(overlap_policy="allow"), follow=True)
    backfill = Backfill.objects.get()
    assert (backfill.count, backfill.overlap_policy, backfill.requested_by) == (7, "allow", "admin")
    assert answer.redirect_chain[-1][0].endswith(f"{BACKFILLS}{backfill.pk}/change/")
    assert "7 fire time(s)" in answer.content.decode() and "occurrences: none yet" in answer.content.decode()
    assert f"Backfill {backfill.pk} requested" in LogEntry.objects.get(object_id=str(schedule.pk)).get_change_message()


def test_errors_land_on_the_fields(admin_client: Client):
    schedule = factories.schedule("noop", name="daily", kind="cron", cron="0 9 * * *")
    url = f"{SCHEDULES}{schedule.pk}/backfill/"
    page = admin_client.post(url, form(end="2999-01-01 00:00:00")).content.decode()
    assert "must not be after now" in page
    page = admin_client.post(url, form(end="2026-01-01 00:00:00")).content.decode()
    assert "must be after start" in page
    page = admin_client.post(url, form(start="not a date")).content.decode()
    assert "Enter a valid date/time" in page
    assert not Backfill.objects.exists()


def test_requesting_needs_add_backfill_and_cancelling_change_backfill(redis_db):
    schedule = factories.schedule("noop", name="daily", kind="cron", cron="0 9 * * *")
    editor = Client()
    editor.force_login(staff_user("editor", "scheduling.view_schedule", "scheduling.change_schedule"))
    assert editor.get(f"{SCHEDULES}{schedule.pk}/backfill/").status_code == 403
    operator = Client()
    operator.force_login(staff_user("operator", "scheduling.view_schedule", "scheduling.add_backfill",
                                    "scheduling.view_backfill"))  # fmt: skip
    assert operator.get(f"{SCHEDULES}{schedule.pk}/backfill/").status_code == 200
    operator.post(f"{SCHEDULES}{schedule.pk}/backfill/", form())
    backfill = Backfill.objects.get()
    listing = operator.get(BACKFILLS).content.decode()
    assert "0 / 7" in listing and "cancel_action" not in listing
    canceller = Client()
    canceller.force_login(staff_user("canceller", "scheduling.view_backfill", "scheduling.change_backfill"))
    answer = canceller.post(BACKFILLS, {"action": "cancel_action", "_selected_action": [backfill.pk]}, follow=True)
    assert f"Cancelled backfill(s) {backfill.pk}" in answer.content.decode()
    backfill.refresh_from_db()
    assert backfill.status == "cancelled"
    again = canceller.post(BACKFILLS, {"action": "cancel_action", "_selected_action": [backfill.pk]}, follow=True)
    assert "it is cancelled, not running" in again.content.decode()
