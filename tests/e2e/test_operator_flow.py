"""An operator's day in a real headless Chromium, against a real web server and a real Celery worker.

In the admin: log in, create a schedule with an invalid cron (see the error), fix it (see the
preview, live and after saving), run it now and see the run succeed. On /schedules/: run now and
toggle a schedule and see the changes, and a change made elsewhere, without the page reloading.
Screenshots go to test-output/e2e/.
"""

from __future__ import annotations

import re
from pathlib import Path

from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from orchestrator.models import Run
from scheduling.models import Schedule
from tests import factories
from tests.e2e.conftest import SCREENSHOTS
from tests.helpers import wait_ready
from tests.processes import Processes, wait_until

PASSWORD = "correct horse battery staple"


def shot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    target = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(target), full_page=True)
    assert target.stat().st_size > 0
    return target


def log_in(page: Page, base: str, next_url: str) -> None:
    page.goto(f"{base}/admin/login/?next={next_url}")
    page.fill("#id_username", "operator")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{base}{next_url}")


def test_admin_create_fix_preview_run_now_and_schedules_page(live: Processes, web: str, page: Page) -> None:
    User.objects.create_superuser("operator", "ops@example.com", PASSWORD)
    wait_ready(live.worker(concurrency=1))
    bystander = factories.schedule("noop", name="bystander", kind="cron", cron="0 3 1 1 *")

    # --- the admin: an invalid cron is refused at the field ---------------------------------------
    log_in(page, web, "/admin/scheduling/schedule/add/")
    page.fill("#id_name", "browser-made")
    page.select_option("#id_job", label="noop (queue default)")
    page.check("input[name=kind][value=cron]")
    page.fill("#id_cron", "61 * * * *")
    page.fill("#id_timezone", "Europe/Berlin")
    page.click("input[name=_continue]")
    cron_error = page.locator(".field-cron .errorlist")
    expect(cron_error).to_contain_text("is not a valid cron expression")
    expect(page.locator(".errornote")).to_be_visible()
    # The live preview shows the same problem for what is typed.
    expect(page.locator("[data-fire-preview] .fire-preview-errors")).to_contain_text("cron")
    shot(page, "01-admin-invalid-cron")
    assert not Schedule.objects.filter(name="browser-made").exists()

    # --- fixing it: the preview updates as you type ------------------------------------------------
    page.fill("#id_cron", "*/5 * * * *")
    preview = page.locator("[data-fire-preview]")
    expect(preview).to_have_attribute("data-state", "valid")
    expect(preview.locator(".fire-preview-words")).to_have_text("Every 5 minutes (Europe/Berlin)")
    expect(preview.locator(".fire-preview-table tbody tr")).to_have_count(5)
    expect(preview.locator(".fire-preview-caption")).to_have_text("As typed (not saved yet).")
    first_row = preview.locator(".fire-preview-table tbody tr").first
    expect(first_row).to_contain_text(re.compile(r"CES?T"))
    expect(first_row).to_contain_text("UTC")
    shot(page, "02-admin-live-preview")

    # --- saved: the preview is the saved schedule's ------------------------------------------------
    page.click("input[name=_continue]")
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")
    expect(page.locator(".messagelist")).to_contain_text("next runs at")
    schedule = Schedule.objects.get(name="browser-made")
    assert (schedule.cron, schedule.timezone, schedule.enabled) == ("*/5 * * * *", "Europe/Berlin", True)
    expect(preview.locator(".fire-preview-table tbody tr")).to_have_count(5)
    expect(preview.locator(".fire-preview-caption")).to_have_text("As saved.")
    shot(page, "03-admin-saved-with-preview")

    # --- run it now: the run appears and succeeds -------------------------------------------------
    page.click("button[data-action=run-now]")
    expect(page.locator(".messagelist")).to_contain_text("Started 1 run through the orchestrator")
    run = Run.objects.get(occurrence__schedule=schedule)
    assert run.trigger == "manual"
    inline_status = page.locator(".inline-related .ost-status-succeeded")

    def run_shows_succeeded() -> bool:
        page.reload()
        return inline_status.count() == 1

    wait_until(run_shows_succeeded, timeout=45, interval=1.0, message="the run to show as succeeded")
    shot(page, "04-admin-run-succeeded")
    page.locator(f'.inline-related a[href*="{run.id}"]').click()
    expect(page.locator(".field-status_badge")).to_contain_text("succeeded")
    expect(page.locator("tr[data-event=run_finished]")).to_have_count(1)
    expect(page.locator(".field-worker")).to_contain_text("@")
    shot(page, "05-admin-run-page")

    # The list: the schedule in words with its zone, next run, the last run's status at a glance.
    page.goto(f"{web}/admin/scheduling/schedule/")
    listed = page.locator("#result_list tbody tr", has_text="browser-made")
    expect(listed).to_contain_text("Every 5 minutes (Europe/Berlin)")
    expect(listed.locator(".ost-status-succeeded")).to_be_visible()
    expect(listed.locator(".field-next_run time")).to_have_attribute("title", re.compile(r"UTC$"))
    shot(page, "06-admin-schedule-list")

    # --- /schedules/: toggle and run now without a reload ----------------------------------------
    page.goto(f"{web}/schedules/")
    page.evaluate("window.__sameDocument = 'yes'")
    row = page.locator(f'tr[data-schedule-id="{schedule.pk}"]')
    expect(row.locator("[data-cell=enabled]")).to_have_text("enabled")
    row.locator("button[data-action-button=toggle]").click()
    expect(row.locator("[data-cell=enabled]")).to_have_text("disabled")
    expect(row.locator("button[data-action-button=toggle]")).to_have_text("Enable")
    expect(row.locator("[data-cell=next_run]")).to_contain_text("disabled")
    expect(page.locator("#flash")).to_contain_text("Disabled “browser-made”.")
    assert Schedule.objects.get(pk=schedule.pk).enabled is False
    shot(page, "07-schedules-toggled")

    row.locator("button[data-action-button=run-now]").click()
    expect(page.locator("#flash")).to_contain_text("Started run")
    expect(page.locator("#flash")).to_contain_text("it ran because you asked")
    expect(row.locator("[data-cell=last_run] [data-status=succeeded]")).to_be_visible(timeout=30_000)
    assert Run.objects.filter(occurrence__schedule=schedule, status="succeeded").count() == 2

    # A change made elsewhere shows up by the auto-refresh, still without a reload.
    other = page.locator(f'tr[data-schedule-id="{bystander.pk}"]')
    expect(other.locator("[data-cell=enabled]")).to_have_text("enabled")
    Schedule.objects.filter(pk=bystander.pk).set_enabled(False)
    expect(other.locator("[data-cell=enabled]")).to_have_text("disabled", timeout=15_000)
    assert page.evaluate("window.__sameDocument") == "yes", "the page must not have reloaded"
    expect(page.locator("#refresh-status")).to_contain_text("Updated")
    shot(page, "08-schedules-auto-refreshed")

    # The page's own edit form: the admin's validation and live preview, shared.
    row.locator("[data-action-button=edit]").click()
    page.fill("#id_cron", "0 25 * * *")
    form_preview = page.locator("[data-fire-preview]")
    expect(form_preview).to_have_attribute("data-state", "invalid")
    expect(form_preview.locator(".fire-preview-errors")).to_contain_text("cron")
    page.fill("#id_cron", "0 * * * *")
    expect(form_preview.locator(".fire-preview-words")).to_have_text("Every hour (Europe/Berlin)")
    expect(form_preview.locator(".fire-preview-table tbody tr")).to_have_count(5)
    expect(page.locator("[data-row=interval_seconds]")).to_be_hidden()  # only the chosen kind's fields
    shot(page, "09-schedules-edit-form")
    page.click("button[name=_save]")
    expect(page.locator("#flash")).to_contain_text("Saved “browser-made”.")
    assert Schedule.objects.get(pk=schedule.pk).cron == "0 * * * *"
