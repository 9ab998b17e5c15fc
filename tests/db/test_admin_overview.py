"""The schedule's admin page shows upcoming times (excluded ones marked), recent outcomes and counts."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from orchestrator import ids
from orchestrator.models import Run
from scheduling.models import Calendar, OccurrenceStatus, Schedule, ScheduledRun
from tests import factories

pytestmark = pytest.mark.django_db

T = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def _page(client: Client, schedule: Schedule) -> str:
    return html.unescape(client.get(reverse("admin:scheduling_schedule_change", args=[schedule.pk])).content.decode())


def test_change_page_shows_upcoming_recent_and_counts(admin_client: Client) -> None:
    weekends = Calendar.objects.create(name="weekends", crons=["* * * * 6,0"])
    schedule = factories.schedule("noop", kind="cron", cron="0 9 * * *")
    schedule.calendars.set([weekends])
    late = Run.objects.create(job=schedule.job, trigger="schedule", status="running", created_at=timezone.now())
    ScheduledRun.objects.create(
        schedule=schedule, scheduled_for=T, status=OccurrenceStatus.DISPATCHED, run=late, overdue_at=T
    )
    ScheduledRun.objects.create(
        schedule=schedule, scheduled_for=T + timedelta(days=1), status=OccurrenceStatus.MISSED, missed_count=4
    )
    page = _page(admin_client, schedule)
    section = page[page.index("data-overview") :]
    upcoming = re.findall(r"<tr( class=\"fire-excluded\" data-excluded=\"weekends\")?>\s*<td>", section)
    assert len(upcoming) == 10, "ten upcoming fire times"
    assert sum(1 for mark in upcoming if mark) in (2, 3, 4), "the weekends among ten days are marked"
    assert len(re.findall(r"<tr data-status=", section)) == 2, "two recent occurrences"
    assert "excluded by weekends (skipped, not run)" in section
    assert re.search(r'data-count="missed">4<', section) and re.search(r'data-count="overdue">1<', section)
    assert 'data-status="dispatched" data-overdue="true"' in section
    assert ids.short(late.pk) in section and "running" in section
    assert "(4 occurrences)" in section
    listed = admin_client.get("/admin/scheduling/scheduledrun/?overdue_at__isempty=0")
    occurrences = html.unescape(listed.content.decode())
    assert "ost-status-overdue" in occurrences, "the occurrences list says overdue and filters by it"


def test_change_page_of_a_schedule_with_no_runs_left_says_so(admin_client: Client) -> None:
    schedule = factories.schedule("noop", kind="cron", cron="0 9 * * *", remaining_runs=0)
    page = _page(admin_client, schedule)
    assert "No runs left (remaining_runs is 0): no more occurrences." in page and "None yet." in page
