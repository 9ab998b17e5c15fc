"""The Content-Security-Policy in a real browser: the pages work and Chromium reports no violation.

``tests/db/test_csp.py`` scans every page's HTML for what the policy forbids; this test
lets Chromium enforce it on the pages with the most script (the admin's schedule form and its
live preview, a run's Cancel question, django-celery-beat's task form, /schedules/, Swagger UI)
and fails on any ``securitypolicyviolation`` event or console report of one.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from orchestrator.models import RunStatus
from tests import factories
from tests.e2e.test_operator_flow import PASSWORD, log_in
from tests.records import run_for

RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(`${event.violatedDirective} ${event.blockedURI} ${event.sourceFile}:${event.lineNumber}`);
});
"""


def violations(page: Page) -> list[Any]:
    return list(page.evaluate("window.__cspViolations || []"))


def test_pages_work_under_the_policy_without_violations(web: str, page: Page) -> None:
    User.objects.create_superuser("operator", "ops@example.com", PASSWORD)
    schedule = factories.schedule("noop", name="csp-check", kind="cron", cron="0 3 1 1 *")
    run = run_for(schedule, status=RunStatus.QUEUED)
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    page.add_init_script(RECORD_VIOLATIONS)

    log_in(page, web, "/admin/scheduling/schedule/add/")
    page.fill("#id_cron", "*/15 * * * *")
    page.check("input[name=kind][value=cron]")
    expect(page.locator("[data-fire-preview]")).to_contain_text("Every 15 minutes")  # the live preview's script
    assert violations(page) == [], "the schedule form"

    page.goto(f"{web}/admin/orchestrator/run/{run.pk}/change/")
    page.once("dialog", lambda dialog: dialog.dismiss())  # confirm.js asks; dismissing keeps the run
    page.click("button[data-action=cancel]")
    expect(page.locator("button[data-action=cancel]")).to_be_visible()
    assert violations(page) == [], "the run page"

    pages = ("/admin/scheduling/schedule/add/", "/schedules/new/", "/schedules/", "/admin/",
             f"/schedules/{schedule.pk}/", "/schedules/timeline/")  # fmt: skip
    for path in pages:
        response = page.goto(f"{web}{path}")
        assert response is not None and response.status == 200, path  # the page itself, not an error page
        page.wait_for_load_state("networkidle")
        assert violations(page) == [], path

    page.goto(f"{web}/api/docs/")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Ostinato API", timeout=20_000)
    assert violations(page) == [], "Swagger UI"
    assert not [text for text in console if "Content Security Policy" in text], console
