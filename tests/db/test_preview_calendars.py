"""Previews mark the fire times a calendar excludes: the admin form, ``/schedules/``, ``celery … schedules next``."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from click.testing import CliRunner
from django.test import Client
from django.urls import reverse

from scheduling.models import Calendar, Schedule
from scheduling.surfaces.celery_command import schedules
from tests import factories
from tests.doors import form_data
from tests.records import staff_user

pytestmark = pytest.mark.django_db

#: Friday 2030-03-29: the preview's five days are Fri, Sat, Sun, Mon, Tue.
START = datetime(2030, 3, 29, tzinfo=UTC)


def text(response: Any) -> str:
    return html.unescape(response.content.decode())


def _weekday_schedule(**fields: Any) -> tuple[Schedule, Calendar]:
    weekends = Calendar.objects.create(name="weekends", timezone="Europe/Berlin", crons=["* * * * 6,0"])
    schedule = factories.schedule(
        "noop", kind="cron", cron="0 9 * * *", timezone="Europe/Berlin", start_at=START, **fields
    )
    schedule.calendars.set([weekends])
    return schedule, weekends


def _marked_rows(page: str) -> list[tuple[str, str]]:
    """(local time, mark) of each preview row; the mark is empty for a time that runs."""
    rows = re.findall(r"<tr(?: [^>]*)?><td>\d</td><td><time[^>]*>([^<]+)</time></td><td>[^<]+</td>(.*?)</tr>", page)
    return [(local, re.sub(r"<[^>]+>", "", rest)) for local, rest in rows]


EXPECTED = [
    ("2030-03-29 09:00:00 CET", ""),
    ("2030-03-30 09:00:00 CET", "excluded by weekends (skipped, not run)"),
    ("2030-03-31 09:00:00 CEST", "excluded by weekends (skipped, not run)"),
    ("2030-04-01 09:00:00 CEST", ""),
    ("2030-04-02 09:00:00 CEST", ""),
]


def test_admin_change_page_preview_marks_excluded_times(admin_client: Client) -> None:
    schedule, _calendar = _weekday_schedule()
    page = text(admin_client.get(reverse("admin:scheduling_schedule_change", args=[schedule.pk])))
    assert _marked_rows(page) == EXPECTED
    assert "2 of these times are excluded by a calendar (weekends)" in page


def test_admin_live_preview_marks_the_calendars_chosen_in_the_form(admin_client: Client) -> None:
    _schedule, weekends = _weekday_schedule()
    url = reverse("admin:scheduling_schedule_preview")
    typed = form_data(cron="0 9 * * *", start_at="2030-03-29T00:00", calendars=[str(weekends.pk)])
    answer = admin_client.post(url, typed).json()
    assert [t["excluded"] for t in answer["times"]] == [None, "weekends", "weekends", None, None]
    assert "excluded by a calendar" in answer["note"]
    plain = admin_client.post(url, form_data(cron="0 9 * * *", start_at="2030-03-29T00:00")).json()
    assert [t["excluded"] for t in plain["times"]] == [None] * 5, "no calendar chosen, none excluded"


def test_schedules_page_preview_marks_excluded_times(client: Client) -> None:
    client.force_login(staff_user("editor", "scheduling.change_schedule", "scheduling.add_schedule"))
    schedule, weekends = _weekday_schedule()
    page = text(client.get(reverse("schedules:edit", args=[schedule.pk])))
    assert _marked_rows(page) == EXPECTED
    typed = form_data(cron="0 9 * * *", start_at="2030-03-29T00:00", calendars=[weekends.name])
    answer = client.post(reverse("schedules:preview"), typed).json()
    assert [t["excluded"] for t in answer["times"]] == [None, "weekends", "weekends", None, None]


def test_celery_schedules_next_marks_excluded_times() -> None:
    schedule, _calendar = _weekday_schedule()
    result = CliRunner().invoke(schedules, ["next", schedule.name, "-n", "5"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()[1:]
    assert len(lines) == 5
    assert lines[0] == "  2030-03-29T08:00:00Z  (2030-03-29T09:00:00+01:00 Europe/Berlin)"
    assert lines[1].endswith("excluded by calendar 'weekends' (skipped, not run)")
    assert lines[2].endswith("excluded by calendar 'weekends' (skipped, not run)")
    assert "excluded" not in lines[3] + lines[4]


def test_celery_schedules_next_of_a_schedule_with_no_runs_left_says_why() -> None:
    schedule = factories.schedule("noop", kind="cron", cron="0 9 * * *", remaining_runs=0)
    result = CliRunner().invoke(schedules, ["next", schedule.name])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[1:] == ["  No runs left (remaining_runs is 0): no more occurrences."]
