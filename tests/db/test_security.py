"""Every door, tried without the right to pass: anonymous users, logged-in users without the model
permissions, forged cross-site posts, revoked API tokens, and user text that looks like HTML.

Each request is checked for what it answers (a login redirect, 401, 403, never data and never a
500) and, for writes, that the database is exactly as before.
"""

from __future__ import annotations

import html
import uuid
from dataclasses import dataclass
from datetime import timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.conf import LazySettings
from django.contrib import admin
from django.contrib.auth.models import Permission, User
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from orchestrator import artifacts
from orchestrator.models import Run, RunArtifact, RunStatus
from scheduling.models import Calendar, Schedule
from scheduling.surfaces.api.tokens import ApiToken
from tests import factories
from tests.doors import form_data
from tests.records import run_for, staff_user

pytestmark = pytest.mark.django_db

CANARY = f"canary-{uuid.uuid4().hex}"
XSS = '<script>alert("x")</script>'
VIEW_PERMS = (
    "scheduling.view_schedule",
    "scheduling.view_scheduledrun",
    "orchestrator.view_run",
    "orchestrator.view_job",
    "orchestrator.view_directive",
    "orchestrator.view_runartifact",
)


@dataclass
class World:
    schedule: Schedule
    queued: Run
    finished: Run
    artifact: RunArtifact


@pytest.fixture
def world(settings: LazySettings, tmp_path: Path, redis_db: Any) -> World:
    settings.EVENTS_PATH = tmp_path / "events.jsonl"
    settings.ARTIFACTS_DIR = tmp_path / "artifacts"
    schedule = factories.schedule(
        "noop", name=f"{CANARY}-{XSS}", description=f"<img src=x onerror=alert(1)> {CANARY}", tenant=XSS
    )
    queued = run_for(schedule, status=RunStatus.QUEUED)
    finished = run_for(schedule)
    written = artifacts.write(finished.id, "report.txt", f"secret report {CANARY}")
    artifact = RunArtifact.objects.create(
        run=finished,
        name=written.name,
        path=written.relative_path,
        size_bytes=written.size_bytes,
        sha256=written.sha256,
        content_type=written.content_type,
    )
    return World(schedule=schedule, queued=queued, finished=finished, artifact=artifact)


def state() -> tuple[Any, ...]:
    """Everything a refused write must leave as it was."""
    return (
        list(Schedule.objects.order_by("pk").values()),
        list(Run.objects.order_by("pk").values_list("pk", "status", "attempt")),
        RunArtifact.objects.count(),
        sorted(ApiToken.objects.values_list("digest", flat=True)),
        User.objects.count(),
    )


def get_urls(world: World) -> list[str]:
    """Every page that shows data: the whole admin (every registered model), /schedules/, the API, downloads."""
    urls = ["/admin/", "/metrics", "/api/schema/", "/api/docs/"]
    for model in admin.site._registry:
        meta = model._meta
        prefix = f"admin:{meta.app_label}_{meta.model_name}"
        urls += [reverse(f"{prefix}_changelist"), reverse(f"{prefix}_add")]
        first = model._default_manager.first()
        if first is not None:
            urls += [reverse(f"{prefix}_{page}", args=[first.pk]) for page in ("change", "delete", "history")]
    s, r = world.schedule.pk, world.finished.pk
    urls += [
        reverse("admin:orchestrator_run_artifact", args=[r, world.artifact.pk]),
        "/schedules/",
        "/schedules/rows/",
        "/schedules/new/",
        f"/schedules/{s}/edit/",
        "/api/schedules/",
        f"/api/schedules/{s}/",
        f"/api/schedules/{s}/history/",
        "/api/runs/",
        f"/api/runs/{r}/",
        "/api/jobs/",
        "/api/jobs/noop/",
    ]
    return urls


def write_requests(world: World) -> list[tuple[str, str, dict[str, Any]]]:
    """Every request that changes something or starts a run: (method, url, data)."""
    s, q = world.schedule.pk, world.queued.pk
    schedules = reverse("admin:scheduling_schedule_changelist")
    runs = reverse("admin:orchestrator_run_changelist")
    edited = form_data(name="renamed-by-an-intruder")
    return [
        ("post", schedules, {"action": "run_now_action", "_selected_action": [s]}),
        ("post", schedules, {"action": "disable_action", "_selected_action": [s]}),
        ("post", reverse("admin:scheduling_schedule_run_now", args=[s]), {}),
        ("post", reverse("admin:scheduling_schedule_disable", args=[s]), {}),
        ("post", reverse("admin:scheduling_schedule_change", args=[s]), edited),
        ("post", reverse("admin:scheduling_schedule_add"), form_data(name="added-by-an-intruder")),
        ("post", reverse("admin:scheduling_schedule_delete", args=[s]), {"post": "yes"}),
        ("post", runs, {"action": "cancel_action", "_selected_action": [q]}),
        ("post", reverse("admin:orchestrator_run_cancel", args=[q]), {}),
        (
            "post",
            reverse("admin:auth_user_add"),
            {"username": "mallory", "password1": "x9!kLm2#pQ", "password2": "x9!kLm2#pQ"},
        ),
        ("post", "/schedules/new/", form_data(name="added-on-the-page")),
        ("post", f"/schedules/{s}/edit/", edited),
        ("post", f"/schedules/{s}/run-now/", {}),
        ("post", f"/schedules/{s}/disable/", {}),
        (
            "post",
            "/api/schedules/",
            {"name": "api-intruder", "job": "noop", "kind": "interval", "interval_seconds": 60},
        ),
        ("patch", f"/api/schedules/{s}/", {"enabled": False}),
        ("delete", f"/api/schedules/{s}/", {}),
        ("post", f"/api/schedules/{s}/run-now/", {}),
        ("post", f"/api/schedules/{s}/disable/", {}),
        ("post", f"/api/runs/{q}/cancel/", {}),
    ]


def send(client: Client, method: str, url: str, data: dict[str, Any], **extra: Any) -> Any:
    if url.startswith("/api/"):
        return getattr(client, method)(url, data, content_type="application/json", **extra)
    return getattr(client, method)(url, data, **extra)


def to_login(response: Any) -> bool:
    location = response.headers.get("Location", "")
    return response.status_code == 302 and location.startswith(("/admin/login/", "/accounts/login/"))


def test_anonymous_users_get_nothing_from_any_door(world: World):
    client = Client(raise_request_exception=False)
    before = state()
    urls = get_urls(world)
    assert len(urls) > 40, urls
    for url in urls:
        for method in ("get", "post"):
            response = getattr(client, method)(url)
            nothing = to_login(response) or response.status_code in (401, 403) or (method, url) == ("post", "/metrics")
            assert nothing, (method, url, response.status_code)  # POST /metrics: 405, with no data
            body = b"".join(response) if response.streaming else response.content
            assert CANARY.encode() not in body, (method, url)
    for method, url, data in write_requests(world):
        response = send(client, method, url, data)
        assert to_login(response) or response.status_code in (401, 403), (method, url, response.status_code)
    assert state() == before


@pytest.mark.parametrize("staff", [True, False], ids=["staff-who-may-only-look", "logged-in-without-permissions"])
def test_users_without_the_model_permission_cannot_change_run_or_cancel(world: World, staff: bool):
    user = staff_user("onlooker", *VIEW_PERMS) if staff else User.objects.create_user("nobody", password="pw-nobody")
    client = Client(raise_request_exception=False)
    client.force_login(user)
    _token, token = ApiToken.objects.issue(user)
    before = state()
    for method, url, data in write_requests(world):
        response = send(client, method, url, data)
        # The admin answers a refused action by showing the list again; everything else refuses outright.
        allowed = (200, 302, 403) if url.startswith("/admin/") else (302, 403)
        assert response.status_code in allowed, (method, url, response.status_code)
        if not staff and url.startswith("/admin/"):
            assert to_login(response), (method, url, response.status_code)
        assert state() == before, f"{method} {url} changed something ({response.status_code})"
        if url.startswith("/api/"):
            assert response.status_code == 403, (method, url, response.status_code)
            by_token = send(Client(), method, url, data, HTTP_AUTHORIZATION=f"Token {token}")
            assert by_token.status_code == 403, (method, url, by_token.status_code)
            assert state() == before
    if staff:
        # They may look: the same pages answer, so the refusals above are about permissions, not routing.
        assert client.get(reverse("admin:scheduling_schedule_change", args=[world.schedule.pk])).status_code == 200
        assert client.get(f"/api/schedules/{world.schedule.pk}/").status_code == 200


def test_every_form_and_post_needs_the_csrf_token(world: World):
    root = User.objects.create_superuser("root", password="pw-root-" + uuid.uuid4().hex)
    forger = Client(enforce_csrf_checks=True, raise_request_exception=False)
    forger.force_login(root)
    before = state()
    for method, url, data in write_requests(world):
        response = send(forger, method, url, data)
        assert response.status_code == 403, (method, url, response.status_code)
        assert state() == before, f"{method} {url} changed something without a CSRF token"
    for url in ("/accounts/login/", "/admin/login/"):
        anonymous = Client(enforce_csrf_checks=True)
        assert anonymous.post(url, {"username": "root", "password": "whatever"}).status_code == 403, url
    assert forger.post("/accounts/logout/").status_code == 403
    assert forger.post("/admin/logout/").status_code == 403

    # The same posts with the token go through: the 403s above were the CSRF check.
    forger.get("/schedules/")
    token = forger.cookies["csrftoken"].value
    response = forger.post(f"/schedules/{world.schedule.pk}/disable/", {"csrfmiddlewaretoken": token})
    assert response.status_code in (200, 302) and not Schedule.objects.get(pk=world.schedule.pk).enabled
    response = send(forger, "post", f"/api/schedules/{world.schedule.pk}/enable/", {}, HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200 and Schedule.objects.get(pk=world.schedule.pk).enabled


def test_api_tokens_are_revoked_by_deleting_or_rotating_them(world: World):
    user = User.objects.create_user("robot", password="pw-robot")
    user.user_permissions.add(Permission.objects.get(codename="view_schedule"))
    token, key = ApiToken.objects.issue(user)
    api = Client()
    assert api.get("/api/schedules/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 200

    # Revoked in the admin (API tokens > delete).
    root = Client()
    root.force_login(User.objects.create_superuser("root", password="pw-root-" + uuid.uuid4().hex))
    deleted = root.post(reverse("admin:scheduling_apitoken_delete", args=[token.pk]), {"post": "yes"})
    assert deleted.status_code == 302 and not ApiToken.objects.filter(user=user).exists()
    refused = api.get("/api/schedules/", HTTP_AUTHORIZATION=f"Token {key}")
    assert refused.status_code == 401 and CANARY.encode() not in refused.content

    # Rotated from the command line: the old key stops working at once, the new one works.
    _token, old = ApiToken.objects.issue(user)
    out = StringIO()
    call_command("api_token", "robot", rotate=True, stdout=out, stderr=StringIO())
    new = out.getvalue().strip()
    assert new != old and ApiToken.objects.find(new).user == user
    assert api.get("/api/schedules/", HTTP_AUTHORIZATION=f"Token {old}").status_code == 401
    assert api.get("/api/schedules/", HTTP_AUTHORIZATION=f"Token {new}").status_code == 200


def test_api_tokens_expire_after_their_maximum_age(world: World, settings: LazySettings):
    user = User.objects.create_user("robot", password="pw-robot", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_schedule"))
    token, key = ApiToken.objects.issue(user)
    api = Client()
    settings.API_TOKEN_MAX_AGE_SECONDS = 3600
    assert api.get("/api/schedules/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 200
    assert "checks" in api.get("/readyz", HTTP_AUTHORIZATION=f"Token {key}").json()

    ApiToken.objects.filter(pk=token.pk).update(issued_at=timezone.now() - timedelta(seconds=3601))
    expired = api.get("/api/schedules/", HTTP_AUTHORIZATION=f"Token {key}")
    assert expired.status_code == 401
    detail = expired.json()["detail"]
    assert "expired" in detail and "API_TOKEN_MAX_AGE_SECONDS" in detail and "api_token USERNAME --rotate" in detail
    assert CANARY.encode() not in expired.content
    # the detailed readiness answer is for staff only: an expired staff token gets the short one
    assert "checks" not in api.get("/readyz", HTTP_AUTHORIZATION=f"Token {key}").json()

    settings.API_TOKEN_MAX_AGE_SECONDS = 0  # expiry off
    assert api.get("/api/schedules/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 200
    settings.API_TOKEN_MAX_AGE_SECONDS = 3600
    out = StringIO()
    call_command("api_token", "robot", rotate=True, stdout=out, stderr=StringIO())  # rotation renews the age
    fresh = out.getvalue().strip()
    assert api.get("/api/schedules/", HTTP_AUTHORIZATION=f"Token {fresh}").status_code == 200


def test_user_text_is_escaped_on_every_page(world: World):
    client = Client()
    client.force_login(User.objects.create_superuser("root", password="pw-root-" + uuid.uuid4().hex))
    s = world.schedule.pk
    pages = [
        reverse("admin:scheduling_schedule_changelist"),
        reverse("admin:scheduling_schedule_change", args=[s]),
        reverse("admin:scheduling_schedule_history", args=[s]),
        reverse("admin:orchestrator_run_changelist"),
        reverse("admin:orchestrator_run_change", args=[world.finished.pk]),
        "/schedules/",
        "/schedules/rows/",
        f"/schedules/{s}/edit/",
        f"/schedules/{s}/",
        f"/schedules/{s}/delete/",
        f"/schedules/{s}/backfill/",
        "/schedules/timeline/",
    ]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        body = response.content.decode()
        assert CANARY in html.unescape(body), f"{url} does not show the schedule at all"
        assert XSS not in body and "<img src=x" not in body, f"{url} shows user text unescaped"
        assert "&lt;script&gt;" in body, url


#: Pages anyone may open: logging in and out, readiness and liveness probes.
PUBLIC = {"login", "logout", "admin:login", "admin:logout", "readyz", "healthz"}


def every_route(resolver: Any = None, prefix: str = "", namespace: str = "") -> list[tuple[str, str]]:
    """(name, regex-ish route) of every URL pattern the project serves, included ones too."""
    from django.urls import URLPattern, URLResolver, get_resolver

    found: list[tuple[str, str]] = []
    for entry in (resolver or get_resolver()).url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            found += every_route(entry, route, inner)
        elif isinstance(entry, URLPattern):
            found.append((namespace + (entry.name or ""), route))
    return found


def concrete(route: str, world: World) -> str | None:
    """A URL for ``route`` with its parameters filled with rows that exist (None when it cannot be)."""
    import re

    from django.apps import apps

    def value(name: str) -> str:
        if name == "artifact_id":
            return str(world.artifact.pk)
        if name == "key" or name == "app_label":
            return "noop" if name == "key" else "scheduling"
        if name == "content_type_id":  # the admin's "view on site" shortcut
            return str(ContentType.objects.get_for_model(Schedule).pk)
        parts = route.split("/")
        if parts[:2] == ["schedules", "calendars"]:  # the schedules pages' calendars: a calendar's id
            calendar = Calendar.objects.order_by("pk").first()
            return str(calendar.pk) if calendar is not None else "1"
        if parts[0] == "admin" and name in ("object_id", "id") and parts[1] != "r":  # id: a user's password page
            model = apps.get_model(parts[1], parts[2])
            first = model._default_manager.first()
            return str(first.pk) if first is not None else "1"
        return str(world.finished.pk) if ("runs/" in route or "/run/" in route) else str(world.schedule.pk)

    url = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: value(m.group(1)), route)  # regular-expression routes
    url = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: value(m.group(1)), url)
    url = url.replace("^", "").replace("$", "")
    if any(char in url for char in "()[]?*+\\"):
        return None  # the API's catch-all and the admin's own catch-all
    return "/" + url


def test_every_route_the_project_serves_refuses_anonymous_users(world: World):
    """The sweep above lists the doors by hand; this walks the URL configuration, so a page added
    later is checked too unless it is declared public."""
    client = Client(raise_request_exception=False)
    before = state()
    checked = 0
    for name, route in every_route():
        if name in PUBLIC or route in ("", "static/"):  # "": the redirect to /schedules/ (checked itself)
            continue
        url = concrete(route, world)
        if url is None:
            continue
        for method in ("get", "post"):
            response = getattr(client, method)(url)
            body = b"".join(response) if response.streaming else response.content
            refused = to_login(response) or response.status_code in (401, 403, 405)
            assert refused, (method, name, url, response.status_code)
            assert CANARY.encode() not in body, (method, name, url)
        checked += 1
    assert checked > 80, checked  # the admin no longer carries django-celery-beat's and -results' inert models
    assert state() == before
