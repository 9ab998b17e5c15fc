"""/schedules/ and the status page follow the OS dark mode; an empty new-schedule form shows no
error before anything is typed (and shows them once something wrong is typed). Screenshots: test-output/e2e/."""

from __future__ import annotations

from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from tests import factories
from tests.e2e.test_operator_flow import PASSWORD, log_in, shot
from tests.processes import Processes


def background(page: Page) -> str:
    return str(page.evaluate("getComputedStyle(document.body).backgroundColor"))


def test_dark_mode_and_a_quiet_empty_form(live: Processes, web: str, page: Page) -> None:
    User.objects.create_superuser("operator", "ops@example.com", PASSWORD)
    factories.schedule("noop", name="nightly", kind="cron", cron="0 3 * * *", timezone="Europe/Berlin")

    log_in(page, web, "/schedules/")
    page.emulate_media(color_scheme="light")
    assert background(page) == "rgb(255, 255, 255)"
    page.emulate_media(color_scheme="dark")
    assert background(page) != "rgb(255, 255, 255)"
    expect(page.locator("[data-cell='next_run'] time")).to_contain_text("UTC)")  # zone, UTC beside it
    shot(page, "polish-01-schedules-dark")
    page.goto(f"{web}/schedules/status/")
    assert background(page) != "rgb(255, 255, 255)"
    shot(page, "polish-02-status-dark")
    page.emulate_media(color_scheme="light")

    page.goto(f"{web}/schedules/new/")
    preview = page.locator("[data-fire-preview]")
    expect(preview).to_have_attribute("data-state", "untouched")
    expect(page.locator(".fire-preview-errors li")).to_have_count(0)
    expect(page.locator(".errorlist")).to_have_count(0)
    shot(page, "polish-03-new-form-untouched")
    page.check("input[name=kind][value=cron]")
    page.fill("#id_cron", "61 * * * *")
    expect(preview).to_have_attribute("data-state", "invalid")
    expect(page.locator(".fire-preview-errors")).to_contain_text("cron")
