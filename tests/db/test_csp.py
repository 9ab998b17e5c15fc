"""Every HTML page carries the Content-Security-Policy and needs nothing it forbids.

The policy allows scripts only from this site's files (``script-src 'self'``), so a page works
under it only if it has no inline ``<script>`` and no ``on*=`` handler. No browser here: each page
is rendered through Django's test client (every admin page of every registered model, the admin
and account login pages, /schedules/ and its forms, the status page, the API docs and the page
that shows a new API key) and its HTML parsed. A ``<script>`` without ``src`` passes only when
it is a data block (``type="application/json"``, which browsers never run); nothing else is exempt.
"""

from __future__ import annotations

import uuid
from html.parser import HTMLParser
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from project.csp import DEFAULT_POLICY
from scheduling.models import Calendar
from tests.db.test_security import World, world  # noqa: F401  (the fixture)

pytestmark = pytest.mark.django_db

DATA_BLOCK_TYPES = {"application/json", "application/ld+json"}
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href"}


class InlineScriptFinder(HTMLParser):
    """Collects what ``script-src 'self'`` would block: inline scripts, handlers, ``javascript:`` URLs."""

    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name.lower(): value or "" for name, value in attrs}
        for name, value in values.items():
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}={value[:60]!r}>")
            if name in URL_ATTRIBUTES and value.strip().lower().startswith("javascript:"):
                self.problems.append(f"<{tag} {name}={value[:60]!r}>")
        if tag == "script":
            self.scripts += 1
            src = values.get("src", "")
            kind = values.get("type", "").strip().lower()
            if not src and kind not in DATA_BLOCK_TYPES:
                self.problems.append(f"inline <script {values}>")
            if src and (not src.startswith("/") or src.startswith("//")):
                self.problems.append(f"<script src={src!r}> from another site")


def problems(html: str) -> tuple[list[str], int]:
    finder = InlineScriptFinder()
    finder.feed(html)
    finder.close()
    return finder.problems, finder.scripts


def html_pages(world: World) -> list[str]:  # noqa: F811  (the fixture's value)
    urls = ["/admin/", "/admin/password_change/", "/api/docs/", "/schedules/status/"]
    for model in admin.site._registry:
        meta = model._meta
        prefix = f"admin:{meta.app_label}_{meta.model_name}"
        urls += [reverse(f"{prefix}_changelist"), reverse(f"{prefix}_add")]
        first = model._default_manager.first()
        if first is not None:
            urls += [reverse(f"{prefix}_{page}", args=[first.pk]) for page in ("change", "delete", "history")]
    s = world.schedule.pk
    urls += [
        reverse("admin:orchestrator_run_change", args=[world.queued.pk]),  # with its Cancel button
        reverse("admin:scheduling_schedule_change", args=[s]),
        "/schedules/",
        "/schedules/new/",
        f"/schedules/{s}/edit/",
        f"/schedules/{s}/",
        "/schedules/timeline/",
    ]
    calendar = Calendar.objects.first() or Calendar.objects.create(name="csp-calendar", dates=["2026-12-25"])
    urls += ["/schedules/calendars/", "/schedules/calendars/new/"]
    urls += [f"/schedules/calendars/{calendar.pk}/", f"/schedules/calendars/{calendar.pk}/delete/"]
    return urls


def check(response: Any, where: str, checked: list[str]) -> None:
    assert response.status_code in (200, 403), (where, response.status_code)  # 403: a page this admin never offers
    assert response["Content-Security-Policy"] == DEFAULT_POLICY, where
    if not response["Content-Type"].startswith("text/html"):
        return
    found, _scripts = problems(response.content.decode())
    assert not found, f"{where}: {found}"
    checked.append(where)


def test_every_html_page_has_the_policy_and_no_inline_script(world: World, redis_db: Any) -> None:  # noqa: F811
    root = User.objects.create_superuser("root", password="pw-root-" + uuid.uuid4().hex)
    checked: list[str] = []

    anonymous = Client()
    for url in ("/accounts/login/", "/admin/login/"):
        check(anonymous.get(url), url, checked)
    failed_login = anonymous.post("/accounts/login/", {"username": "root", "password": "wrong"})
    check(failed_login, "a failed login", checked)

    client = Client()
    client.force_login(root)
    for url in html_pages(world):
        check(client.get(url), url, checked)
    docs = client.get("/api/docs/")
    script_url = next(
        value for value in docs.content.decode().split('"') if value.startswith("/api/docs/?") and "script" in value
    )
    script = client.get(script_url)
    assert script.status_code == 200 and "javascript" in script["Content-Type"], "Swagger UI's start-up script file"
    issued = client.post(reverse("admin:scheduling_apitoken_add"), {"user": root.pk})
    check(issued, "the page that shows a new API key", checked)
    check(client.post("/admin/logout/"), "the admin's logged-out page", checked)
    assert len(checked) > 40, checked


def test_the_scan_finds_what_the_policy_blocks() -> None:
    """The scanner itself: each thing the policy would block is reported; data blocks and files are not."""
    blocked = [
        "<script>alert(1)</script>",
        '<script type="text/javascript">x()</script>',
        "<form onsubmit=\"return confirm('x')\"></form>",
        '<button onclick="go()">x</button>',
        '<a href="javascript:void(0)">x</a>',
        '<script src="https://cdn.example/x.js"></script>',
    ]
    for html in blocked:
        assert problems(html)[0], html
    allowed = '<script src="/static/x.js"></script><script type="application/json" id="d">{"a": 1}</script>'
    assert problems(allowed) == ([], 2)
