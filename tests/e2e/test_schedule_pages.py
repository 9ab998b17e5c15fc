"""A schedule's page and the timeline in headless Chromium: wide and narrow, light and dark, by keyboard.

Screenshots go to test-output/e2e/ (``schedule-page-*``, ``timeline-*``). The timeline test seeds
10,000 schedules and prints how long the next 24 hours take to render (no timed assertion: the
figure depends on the machine).
"""

from __future__ import annotations

import random
import time
from datetime import timedelta
from typing import Literal

from django.contrib.auth.models import User
from django.utils import timezone
from playwright.sync_api import Page, ViewportSize, expect

from orchestrator.models import RunStatus
from scheduling.core import timing
from scheduling.models import Calendar, Schedule
from tests import factories
from tests.e2e.test_operator_flow import PASSWORD, log_in, shot
from tests.records import run_for

NARROW = ViewportSize(width=380, height=800)
WIDE = ViewportSize(width=1440, height=1000)

NO_OVERFLOW = """() => {
  const root = document.documentElement;
  const main = document.querySelector("main");
  return {page: root.scrollWidth - root.clientWidth, main: main.scrollWidth - main.clientWidth};
}"""


def no_horizontal_overflow(page: Page) -> None:
    overflow = page.evaluate(NO_OVERFLOW)
    assert overflow["page"] <= 0 and overflow["main"] <= 0, overflow


def background(page: Page) -> str:
    return str(page.evaluate("getComputedStyle(document.body).backgroundColor"))


def in_four_looks(page: Page, name: str) -> None:
    """Screenshots wide and narrow, light and dark; the narrow ones without sideways overflow."""
    looks = {}
    schemes: tuple[Literal["light", "dark"], ...] = ("light", "dark")
    for scheme in schemes:
        page.emulate_media(color_scheme=scheme)
        for size_name, size in (("wide", WIDE), ("narrow", NARROW)):
            page.set_viewport_size(size)
            page.wait_for_timeout(50)
            if size_name == "narrow":
                no_horizontal_overflow(page)
            shot(page, f"{name}-{size_name}-{scheme}")
        looks[scheme] = background(page)
    assert looks["light"] != looks["dark"], f"the page follows the OS dark mode: {looks}"
    page.emulate_media(color_scheme="light")
    page.set_viewport_size(WIDE)


def tab_until(page: Page, selector: str, limit: int = 80) -> list[str]:
    """Press Tab until ``selector`` has the focus; the focus order seen on the way."""
    seen: list[str] = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("(s) => document.activeElement && document.activeElement.matches(s)", selector):
            return seen
        seen.append(str(page.evaluate("document.activeElement ? document.activeElement.textContent.trim() : ''")))
    raise AssertionError(f"Tab never reached {selector}; went through {seen}")


FOCUS_STYLE = (
    "(() => { const s = getComputedStyle(document.activeElement); return [s.outlineStyle, s.outlineWidth]; })()"
)


def focus_is_visible(page: Page) -> None:
    outline = page.evaluate(FOCUS_STYLE)
    assert outline[0] != "none" and outline[1] != "0px", outline


def test_schedule_page_looks_keyboard_and_delete(web: str, page: Page) -> None:
    User.objects.create_superuser("operator", "ops@example.com", PASSWORD)
    schedule = factories.schedule(
        "noop",
        name="nightly-report-with-a-rather-long-name-for-narrow-windows",
        kind="cron",
        cron="0 3 * * *",
        timezone="Europe/Berlin",
        description="Builds the nightly finance report. <b>Not bold</b>.",
        tenant="acme",
        pause_after_failures=3,
    )
    holidays = Calendar(name="holidays", dates=[], crons=["* * * * 6,0"])
    holidays.save()
    schedule.calendars.add(holidays)
    now = timezone.now()
    rng = random.Random(7)
    for index in range(30):
        status = RunStatus.FAILED if index % 7 == 3 else RunStatus.SUCCEEDED
        run_for(
            schedule,
            status=status,
            duration=timedelta(seconds=rng.uniform(2, 90)),
            created_at=now - timedelta(days=30 - index),
            scheduled_for=now - timedelta(days=30 - index),
        )
    url = f"/schedules/{schedule.pk}/"

    log_in(page, web, "/schedules/")
    page.locator(f'a[href="{url}"]').click()  # the name on /schedules/ links to the page
    page.wait_for_url(f"{web}{url}")
    expect(page.locator("[data-words]")).to_have_text("At 03:00 (Europe/Berlin)")
    expect(page.locator("[data-description]")).to_contain_text("<b>Not bold</b>")
    expect(page.locator("[data-strip] rect")).to_have_count(30)
    expect(page.locator("[data-sparkline] polyline")).to_have_count(1)
    expect(page.locator("[data-fact=calendars]")).to_have_text("holidays")
    in_four_looks(page, "schedule-page")

    # The keyboard reaches every action, in reading order, with a visible focus.
    page.goto(f"{web}{url}")
    order = []
    for action in ("run-now", "pause", "edit", "delete"):
        tab_until(page, f"[data-action-button={action}]")
        focus_is_visible(page)
        order.append(action)
    tab_until(page, "[data-action-button=backfill]")
    focus_is_visible(page)
    assert order == ["run-now", "pause", "edit", "delete"]

    # Delete, by keyboard: the link, then the confirmation's button.
    page.goto(f"{web}{url}")
    tab_until(page, "[data-action-button=delete]")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{web}{url}delete/")
    shot(page, "schedule-page-confirm-delete")
    tab_until(page, "[data-action-button=confirm-delete]")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{web}/schedules/")
    expect(page.locator("#flash")).to_contain_text("Deleted")
    assert not Schedule.objects.filter(pk=schedule.pk).exists()


CRONS = ["*/5 * * * *", "0 * * * *", "15,45 * * * *", "0 */2 * * *", "30 9 * * 1-5", "0 0 * * *", "*/15 * * * *"]
ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo"]


def seed(count: int) -> None:
    """``count`` enabled schedules (a mix of cron timings, zones, tenants and intervals), in bulk."""
    job = factories.job("noop")
    now = timezone.now()
    rows = []
    for index in range(count):
        if index % 5 == 4:
            fields = {"kind": "interval", "interval_seconds": 600 + 60 * (index % 30), "timezone": "UTC", "cron": ""}
        else:
            fields = {"kind": "cron", "cron": CRONS[index % len(CRONS)], "timezone": ZONES[index % len(ZONES)]}
        row = Schedule(job=job, name=f"bulk-{index:05d}", tenant=f"tenant-{index % 12}", **fields)
        row.next_run_at = timing.next_fire_times(row, now, 1)[0]
        row.due_at = row.next_run_at
        rows.append(row)
    Schedule.objects.bulk_create(rows, batch_size=2000)


def test_timeline_of_ten_thousand_schedules(web: str, page: Page) -> None:
    User.objects.create_superuser("operator", "ops@example.com", PASSWORD)
    seed(10_000)
    paused = Schedule.objects.get(name="bulk-00000")
    Schedule.objects.filter(pk=paused.pk).update(enabled=False, pause_note="freeze", paused_by="operator")
    log_in(page, web, "/schedules/")

    started = time.perf_counter()
    response = page.goto(f"{web}/schedules/timeline/?window=24h")
    page.wait_for_load_state("load")
    rendered = time.perf_counter() - started
    timings = page.evaluate(
        "(() => { const n = performance.getEntriesByType('navigation')[0];"
        " return {response: n.responseEnd - n.requestStart, dom: n.domContentLoadedEventEnd - n.responseEnd,"
        " load: n.loadEventEnd - n.startTime}; })()"
    )
    print(
        f"\ntimeline, next 24 h of 10,000 schedules: {rendered * 1000:.0f} ms to load in Chromium "
        f"(server {timings['response']:.0f} ms, DOM {timings['dom']:.0f} ms, load event {timings['load']:.0f} ms)"
    )
    assert response is not None and response.status == 200
    expect(page.locator("[data-grid] tbody tr")).to_have_count(100)
    expect(page.locator("[data-load]")).to_contain_text("10000 matching schedules")
    in_four_looks(page, "timeline")
    # The paused schedule is listed and marked. It is not always on the first page: interval rows
    # fire at multiples of their interval, which may come before the next five-minute boundary.
    page.goto(f"{web}/schedules/timeline/?window=24h&name=bulk-00000")
    expect(page.locator("[data-grid] tbody tr")).to_have_count(1)
    expect(page.locator("tr[data-paused=true]")).to_contain_text("bulk-00000")

    # Filters by keyboard: the window, then Show.
    page.goto(f"{web}/schedules/timeline/")
    tab_until(page, "#tl-window")
    focus_is_visible(page)
    page.select_option("#tl-window", "6h")
    page.select_option("#tl-tenant", "tenant-3")
    tab_until(page, ".filter-submit button")
    focus_is_visible(page)
    page.keyboard.press("Enter")
    page.wait_for_url("**/schedules/timeline/?window=6h&tenant=tenant-3**")
    expect(page.locator("[data-timeline]")).to_have_attribute("data-window", "6h")
    tenants = page.locator("[data-grid] tbody tr .tl-name .muted").all_text_contents()
    assert tenants and all("tenant-3" in text for text in tenants)
    shot(page, "timeline-filtered-6h")
    # A row's name leads to the schedule's page.
    page.locator("[data-grid] tbody tr .tl-name a").first.click()
    expect(page.locator("[data-schedule-page]")).to_be_visible()
