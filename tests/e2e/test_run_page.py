"""The run page in a real headless Chromium: it follows a running run without being reloaded, and
a text artifact is shown in place as text (its HTML never rendered), reached by keyboard; wide and
narrow, light and dark. Screenshots: test-output/e2e/."""

from __future__ import annotations

from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from orchestrator import service
from orchestrator.models import Run, RunStatus, RunTrigger
from tests import factories
from tests.e2e.test_operator_flow import PASSWORD, log_in, shot
from tests.e2e.test_schedule_pages import focus_is_visible, in_four_looks, tab_until
from tests.helpers import wait_ready
from tests.processes import Processes, wait_until


def test_the_run_page_follows_a_running_run_and_shows_its_text_artifact(live: Processes, web: str, page: Page) -> None:
    User.objects.create_superuser("operator", "ops@example.com", PASSWORD)
    wait_ready(live.worker(concurrency=1))
    run = service.create_run(
        service.RunRequest(job=factories.job("slow_notes"), trigger=RunTrigger.API, params={"seconds": 3})
    )
    wait_until(lambda: Run.objects.get(id=run.id).status == RunStatus.RUNNING, timeout=30, message="the run to start")

    url = f"/admin/orchestrator/run/{run.id}/change/"
    log_in(page, web, url)
    expect(page).to_have_title(f"slow_notes run {run.id} | Django site admin")
    expect(page.locator("h1")).to_have_text(f"slow_notes run {run.id}")
    expect(page.locator("#ost-run-live")).to_have_attribute("data-run-active", "true")
    expect(page.locator(".field-status_badge")).to_contain_text("running")
    expect(page.locator(".field-attempt_shown")).to_contain_text("attempt 1 of 1")
    page.evaluate("window.notReloaded = true")
    shot(page, "run-page-01-running")

    # The artifact and then the outcome appear as they happen, on the same page (no reload).
    expect(page.locator("[data-view-artifact='notes.md']")).to_be_visible(timeout=20_000)
    expect(page.locator(".field-status_badge")).to_contain_text("succeeded", timeout=30_000)
    expect(page.locator("#ost-run-live")).to_have_attribute("data-run-active", "false")
    expect(page.locator("[data-event='run_finished']")).to_be_visible()
    assert page.evaluate("window.notReloaded") is True
    shot(page, "run-page-02-finished")
    in_four_looks(page, "run-page")  # wide and narrow (no sideways scrolling), light and dark

    # The text artifact, in place, reached by keyboard: the markup is text on the page, never elements or script.
    tab_until(page, "[data-view-artifact='notes.md']")
    focus_is_visible(page)
    page.keyboard.press("Enter")
    expect(page.locator("pre.ost-artifact-text")).to_contain_text('<b id="injected">not bold</b><script>')
    assert page.locator("#injected").count() == 0
    assert page.evaluate("window.pwned") is None
    shot(page, "run-page-03-artifact-text")

    # Once final, the page stops asking: no request for it in a few seconds.
    page.goto(f"{web}{url}")
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url) if url in request.url else None)
    page.wait_for_timeout(4500)
    assert asked == []
