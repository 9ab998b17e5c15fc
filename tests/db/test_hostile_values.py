"""Hostile values in every input of every page and endpoint the project serves: never a 5xx.

Each route of the URL configuration (``test_security.every_route``: the admin of every registered
model with its custom views, the schedules page and its JSON endpoints, the REST API, /metrics,
/readyz, the login pages; a page added later is swept too) gets NUL, a lone surrogate, a 10 kB
value and non-ASCII digits in turn:

* in each query parameter it reads: an admin changelist's filters, search, ordering, paging and a
  lookup on each field of its model; the API's documented parameters (from the OpenAPI schema);
  those of the page's own links and search boxes; and the usual ones (``q``, ``page``, ``next``...);
* in each path parameter;
* in each field of each form the page shows (the rest as a browser would send it), also where the
  page's script posts it (``data-preview-url``), and in an admin list's selection for each action;
  in each property of the API's POST and PATCH bodies (and as a key and a value inside objects);
* in the ``Authorization`` header (what an HTTP server lets through: no NUL, nothing past 8 kB);

as a superuser, and anonymously where the page is public. Requests commit (run now publishes only
after its transaction commits), so what one request changes (a save, a delete) the next sees; the
rows behind the pages come first for each route, and the superuser is not the first user (the one
the user pages edit and delete).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
from django.conf import LazySettings
from django.contrib.auth.models import Group, User
from django.template.base import Template
from django.test import Client
from django.test.utils import _TestState
from django.urls import resolve

from orchestrator.models import Directive, Job, Notification, NotificationRule
from scheduling.models import Backfill, Calendar
from scheduling.surfaces.api.tokens import ApiToken
from tests.db.test_security import PUBLIC, World, concrete, every_route
from tests.db.test_security import world as world  # the fixture: rows behind every page
from tests.sweep import (
    MARK,
    Form,
    api_operations,
    as_header,
    changelist_parameters,
    encoded,
    link_parameters,
    parse_page,
    path_parameter_count,
    quoted,
    with_marked_parameter,
)

pytestmark = pytest.mark.django_db(transaction=True)

HOSTILE = {
    "nul": "a\x00b",
    "lone-surrogate": "\ud800",
    "10kB": "9" * 10_240,  # digits: a number parsed from it passes Python's 4,300-digit limit too
    "superscript-two": "²",  # str.isdigit() says yes, int() says no
    "arabic-indic-three": "٣",  # int() reads it as 3
}
#: What an HTTP server passes on in a header: gunicorn refuses NUL and headers past 8,190 bytes.
IN_HEADERS = ("lone-surrogate", "superscript-two", "arabic-indic-three")
#: Parameters many views read; sent to every page, all at once.
COMMON = ("q", "page", "p", "o", "e", "all", "next", "format", "_changelist_filters", "_to_field", "_popup")
#: Where a logged-in client must not post (it would end the session the sweep runs in).
LOGOUTS = {"/accounts/logout/", "/admin/logout/"}

_schema: dict[str, Any] = {}


def _other_rows(world: World) -> None:
    """A row behind every admin change page (the project's rows come from ``world``)."""
    Directive.objects.create(name="sweep-directive", job=Job.objects.get(key="noop"), params={"a": 1})
    ApiToken.objects.issue(User.objects.create(username="sweep-token-owner"))
    Group.objects.create(name="sweep-group")
    start = datetime(2026, 1, 1, tzinfo=UTC)
    Backfill.objects.create(schedule=world.schedule, start=start, end=start + timedelta(days=1), count=1)
    Calendar(name="sweep-calendar", dates=["2026-12-25"], crons=["* * * * 6,0"]).save()
    rule = NotificationRule.objects.create(
        name="sweep-rule", events=["run_failed"], target="http://127.0.0.1:9/hook", secret="sweep-secret"
    )
    Notification.objects.create(
        rule=rule, event="run_failed", subject="sweep", created_at=start, next_attempt_at=start, payload={"a": 1}
    )


class Sweep:
    """Sends the hostile requests for one route with one client and collects every 5xx."""

    def __init__(self, client: Client, who: str, user: User | None, failures: list[str]) -> None:
        self.client, self.who, self.user, self.failures = client, who, user, failures
        self.sent = 0

    def send(self, method: str, url: str, what: str, body: str = "", content_type: str = "", **headers: Any) -> Any:
        """One request; a 5xx is recorded with what was sent."""
        if self.user is not None and urlsplit(url).path in LOGOUTS and method != "GET":
            return None
        if method == "GET":
            response = self.client.get(url, **headers)
        else:
            response = self.client.generic(method, url, body.encode("ascii"), content_type=content_type, **headers)
        if response.streaming:  # read to the end: the test client then closes it (a file download)
            b"".join(response.streaming_content)  # type: ignore[attr-defined]
        self.sent += 1
        if response.status_code >= 500 and not _readiness_verdict(url, response):
            self.failures.append(f"{self.who} {method} {url[:160]} [{what}] -> {response.status_code}")
        if self.user is not None and response.status_code == 302:
            location = response.headers.get("Location", "")
            if location.startswith(("/admin/login/", "/accounts/login/")):  # the sweep must stay logged in
                self.failures.append(f"{self.who} {method} {url[:160]} [{what}] -> sent to log in")
        return response

    def query(self, url: str, names: list[str]) -> None:
        for name in names:
            for label, value in HOSTILE.items():
                self.send("GET", f"{url}?{encoded([(name, value)])}", f"?{name}={label}")
        for label, value in HOSTILE.items():
            self.send("GET", f"{url}?{encoded([(name, value) for name in COMMON])}", f"common parameters={label}")

    def path(self, route: str, world: World, post: bool) -> None:
        for index in range(path_parameter_count(route)):
            marked = concrete(with_marked_parameter(route, index), world)
            if marked is None:
                continue
            for label, value in HOSTILE.items():
                url = marked.replace(MARK, quoted(value))
                self.send("POST" if post else "GET", url, f"path parameter {index}={label}", "", "text/plain")

    def form(self, page_url: str, form: Form) -> None:
        targets = [urljoin(page_url, form.action or page_url), *(urljoin(page_url, t) for t in form.script_targets)]
        for name in form.names:
            if name == "csrfmiddlewaretoken" or "__prefix__" in name:
                continue  # CSRF is test_security's; a formset's empty template is never read
            for label, value in HOSTILE.items():
                pairs = [(key, item) for key, item in form.baseline if key != name] + [(name, value)]
                for target in targets:
                    self.post_form(target, pairs, f"form field {name}={label}")
        for action in form.actions:  # an admin list's action, on a selection that is not an id
            for label, value in HOSTILE.items():
                pairs = [("action", action), ("index", "0"), ("select_across", "0"), ("_selected_action", value)]
                self.post_form(targets[0], pairs, f"action {action} on {label}")

    def post_form(self, url: str, pairs: list[tuple[str, str]], what: str) -> None:
        self.send("POST", url, what, encoded(pairs), "application/x-www-form-urlencoded")

    def api_body(
        self, url: str, method: str, properties: tuple[str, ...], objects: tuple[str, ...], example: dict[str, Any]
    ) -> None:
        for name in properties:
            for label, value in HOSTILE.items():
                bodies = [{**example, name: value}]
                if name in objects:
                    bodies += [{**example, name: {"key": value}}, {**example, name: {value: "value"}}]
                for body in bodies:
                    self.send(method.upper(), url, f"body {name}={label}", json.dumps(body), "application/json")

    def authorization(self, url: str) -> None:
        for scheme in ("Bearer", "Token"):
            for label in IN_HEADERS:
                header = as_header(f"{scheme} {HOSTILE[label]}")
                self.send("GET", url, f"Authorization: {scheme} {label}", HTTP_AUTHORIZATION=header)


def _readiness_verdict(url: str, response: Any) -> bool:
    """/readyz's 503 is its answer when a dependency is missing (no worker runs here), not an error."""
    if urlsplit(url).path != "/readyz" or response.status_code != 503:
        return False
    return bool(json.loads(response.content).get("status") == "unavailable")


def _schema_of(client: Client) -> dict[str, Any]:
    """The OpenAPI schema (read once: it is the same for every route)."""
    if not _schema:
        response = client.get("/api/schema/", {"format": "json"})
        assert response.status_code == 200, response.content[:300]
        _schema.update(json.loads(response.content))
    return _schema


def _sweep(sweep: Sweep, route: str, url: str, world: World) -> int:
    """Every hostile request for one route; returns the status of the page as it is."""
    path = urlsplit(url).path
    page = sweep.send("GET", url, "the page as it is")
    post_only = page is not None and page.status_code == 405
    is_html = page is not None and page.status_code == 200 and "html" in page.get("Content-Type", "")
    parsed = parse_page(page.content.decode()) if is_html else None
    names = link_parameters(parsed, path) if parsed is not None else []
    if sweep.user is not None:
        names += changelist_parameters(path, sweep.user)
        for operation in api_operations(_schema_of(sweep.client), path):
            names += list(operation.query)
            if operation.properties:
                sweep.api_body(url, operation.method, operation.properties, operation.objects, operation.example)
    sweep.query(url, [n for n in dict.fromkeys(names) if n not in COMMON])
    sweep.path(route, world, post_only)
    if post_only:  # a POST-only door: its fields come from the pages that post to it, sent there
        for label, value in HOSTILE.items():
            sweep.post_form(url, [(key, value) for key in COMMON], f"common fields={label}")
    for form in parsed.forms if parsed is not None else []:
        if form.method == "post":
            sweep.form(url, form)
    return page.status_code if page is not None else 0


def _group(route: str) -> str:
    """Routes swept together (one database for them): an admin model's pages, an API resource, a page."""
    literal = re.split(r"[<(\\[*$]", route.replace("^", ""), maxsplit=1)[0]
    parts = [part for part in literal.split("/") if part]
    depth = 3 if parts[:1] == ["admin"] else 2 if parts[:1] == ["api"] else 1
    return "/".join(parts[:depth]) or "(root)"


#: Route groups; in each, delete pages come last (a confirmed delete removes the row the others show).
GROUPS: dict[str, list[tuple[str, str]]] = {}
for _name, _route in sorted(every_route(), key=lambda entry: entry[0].endswith("_delete")):
    GROUPS.setdefault(_group(_route), []).append((_name, _route))


@pytest.fixture
def uninstrumented_templates(monkeypatch: pytest.MonkeyPatch) -> None:
    """Templates render as in production: the test client's instrumentation copies every context of
    every template rendered (about 60 for an admin change page) for ``response.context``, which the
    sweep never reads (``copy.copy`` alone was 5 % of the admin schedule group's profile)."""
    monkeypatch.setattr(Template, "_render", getattr(_TestState, "saved_data").template_render)  # noqa: B009


@pytest.mark.parametrize("group", list(GROUPS))
@pytest.mark.usefixtures("uninstrumented_templates")
def test_hostile_values_in_every_input_never_get_a_server_error(
    group: str, world: World, settings: LazySettings, redis_db: Any
):
    settings.HEALTH_CELERY_TIMEOUT_SECONDS = 0.05  # /readyz pings workers; none runs here
    settings.METRICS_TOKEN = "sweep-metrics-token"  # so /metrics compares the bearer tokens sent
    User.objects.create(username="sweep-first-user")  # the one the user pages change and delete
    _other_rows(world)
    root = User.objects.create(username="sweep-root", is_staff=True, is_superuser=True)
    failures: list[str] = []
    superuser = Client(raise_request_exception=False)
    superuser.force_login(root)
    sent = 0
    for name, route in GROUPS[group]:
        url = concrete(route, world) or "/" + route.split("^")[0] + "no-such-page/"  # a catch-all: any path
        resolve(urlsplit(url).path)  # the URL swept is the route's (Resolver404 otherwise)
        superuser_sweep = Sweep(superuser, "superuser", root, failures)
        anonymous = Sweep(Client(raise_request_exception=False), "anonymous", None, failures)
        shown = _sweep(superuser_sweep, route, url, world)
        if name.endswith("_change"):  # a row to change exists, so its form was swept (add one for a new model)
            assert shown == 200, f"{url}: {shown}; add a row of this model in _other_rows"
        if name in PUBLIC:
            _sweep(anonymous, route, url, world)
        anonymous.authorization(url)
        sent += superuser_sweep.sent + anonymous.sent
    assert not failures, f"{len(failures)} of {sent} requests got a 5xx:\n" + "\n".join(failures[:60])
