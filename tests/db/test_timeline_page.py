"""The timeline (/schedules/timeline/): buckets, filters, excluded and paused marks, bounded work."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from scheduling.models import Calendar, Schedule
from scheduling.surfaces import timeline
from tests import factories
from tests.records import staff_user
from tests.sweep import encoded

pytestmark = pytest.mark.django_db

URL = "/schedules/timeline/"
VIEW = "scheduling.view_schedule"


def text(response: Any) -> str:
    return html.unescape(response.content.decode())


def viewer(*perms: str) -> Client:
    made = staff_user(f"viewer-{len(perms)}", *perms)
    made.is_staff = False
    made.save()
    client = Client()
    client.force_login(User.objects.get(pk=made.pk))
    return client


def rows_of(page: str) -> dict[str, str]:
    return {m.group(1): m.group(0) for m in re.finditer(r'<tr data-schedule-id="(\d+)".*?</tr>', page, re.S)}


def test_login_and_the_view_permission_are_required(client: Client) -> None:
    response = client.get(URL)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert viewer().get(URL).status_code == 403
    assert viewer(VIEW).get(URL).status_code == 200


def test_rows_count_fire_times_per_bucket_and_mark_paused_and_excluded() -> None:
    hourly = factories.schedule("noop", name="hourly", kind="cron", cron="0 * * * *")
    quarter = factories.schedule("noop", name="quarter", kind="interval", interval_seconds=900)
    paused = factories.schedule("noop", name="paused-one", kind="cron", cron="30 * * * *")
    Schedule.objects.filter(pk=paused.pk).update(enabled=False, pause_note="freeze", paused_by="bob")
    off = factories.schedule("noop", name="switched-off", kind="cron", cron="0 * * * *", enabled=False)
    far = factories.schedule("noop", name="far-away", kind="once", run_at=datetime.now(UTC) + timedelta(days=30))
    weekends = Calendar(name="all-day", dates=[], crons=["* * * * *"])
    weekends.save()
    excluded = factories.schedule("noop", name="excluded", kind="cron", cron="15 * * * *")
    excluded.calendars.add(weekends)
    page = text(viewer(VIEW).get(URL))
    rows = rows_of(page)
    assert str(off.pk) not in rows and str(far.pk) not in rows, "nothing to show for them in the window"
    assert re.search(r'data-total="24">24<', rows[str(hourly.pk)])
    assert re.search(r'data-total="96">96<', rows[str(quarter.pk)])
    assert 'data-paused="true"' in rows[str(paused.pk)] and "paused" in rows[str(paused.pk)]
    assert len(re.findall(r'data-excluded="1"', rows[str(excluded.pk)])) == 24
    assert 'data-row-excluded="24"' in rows[str(excluded.pk)]
    assert page.count('class="tl-hour"') in (timeline.BUCKETS, timeline.BUCKETS + 1)


@pytest.mark.parametrize(("window", "hours"), [("6h", 6), ("24h", 24), ("72h", 72)])
def test_the_window_is_selectable(window: str, hours: int) -> None:
    hourly = factories.schedule("noop", name="hourly", kind="cron", cron="0 * * * *")
    page = text(viewer(VIEW).get(URL, {"window": window}))
    total = int(re.search(r'data-total="(\d+)"', rows_of(page)[str(hourly.pk)]).group(1))
    assert total == hours
    assert f'data-window="{window}"' in page


def test_filters_by_tenant_job_queue_and_name() -> None:
    a = factories.schedule("noop", name="alpha-report", tenant="acme", kind="cron", cron="0 * * * *")
    b = factories.schedule("sleep", name="beta-sync", tenant="globex", kind="cron", cron="0 * * * *")
    client = viewer(VIEW)
    assert set(rows_of(text(client.get(URL, {"tenant": "acme"})))) == {str(a.pk)}
    assert set(rows_of(text(client.get(URL, {"job": "slee"})))) == {str(b.pk)}
    assert set(rows_of(text(client.get(URL, {"name": "ALPHA"})))) == {str(a.pk)}
    queue = b.job.queue
    assert str(b.pk) in rows_of(text(client.get(URL, {"queue": queue})))
    assert rows_of(text(client.get(URL, {"queue": "no-such-queue"}))) == {}


@pytest.mark.parametrize("value", ["a\x00b", "\ud800", "9" * 10_240, "²", "٣"])
def test_hostile_filter_values_are_ignored_not_errors(value: str) -> None:
    factories.schedule("noop", kind="cron", cron="0 * * * *")
    client = viewer(VIEW)
    for name in ("window", "tenant", "job", "queue", "name", "page"):
        response = client.get(f"{URL}?{encoded([(name, value)])}")
        assert response.status_code in (200, 400), name  # 400: the middleware refuses NUL in a query


def test_the_page_s_work_is_bounded_by_its_rows_not_by_the_schedules(settings: Any) -> None:
    for index in range(timeline.ROWS + 30):
        factories.schedule("noop", name=f"s-{index:04d}", kind="cron", cron=f"{index % 60} * * * *")
    client = viewer(VIEW)
    with CaptureQueriesContext(connection) as queries:
        page = text(client.get(URL))
    assert len(rows_of(page)) == timeline.ROWS
    assert len(queries) < 20, [q["sql"][:120] for q in queries]
    assert "page 1 of 2" in page
    assert len(rows_of(text(client.get(URL, {"page": "2"})))) == 30


def test_the_load_line_counts_every_matching_schedule_and_says_when_it_is_partial(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for index in range(5):
        factories.schedule("noop", name=f"same-{index}", kind="cron", cron="0 * * * *")
    factories.schedule("noop", name="other", kind="cron", cron="30 * * * *")
    win = timeline.window("24h", datetime.now(UTC))
    load = timeline.load(timeline.selection(timeline.Filters(), win), win)
    assert sum(load.counts) == 6 * 24
    assert load.complete and load.timings == 2 and load.covered == 6
    monkeypatch.setattr(timeline, "TIMINGS", 1)
    partial = timeline.load(timeline.selection(timeline.Filters(), win), win)
    assert not partial.complete and partial.covered == 5
