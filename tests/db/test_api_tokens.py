"""API tokens are stored as digests: no page, no API answer and no table holds a usable key.

A key is shown once, when it is issued (the admin's add page, ``manage.py api_token``) or rotated
(the admin's action, ``api_token --rotate``); rotating needs no old key, and the old key stops
working at once.
"""

from __future__ import annotations

import importlib
import uuid
from io import StringIO
from typing import Any

import pytest
from django.apps import apps
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.urls import reverse

from scheduling.surfaces.api.tokens import ApiToken, digest_of
from tests.live.test_llm_runs import dump_database
from tests.records import staff_user

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:scheduling_apitoken_changelist")
ADD = reverse("admin:scheduling_apitoken_add")


def api_status(key: str) -> int:
    return Client().get("/api/jobs/", HTTP_AUTHORIZATION=f"Token {key}").status_code


def issue_by_command(username: str, *flags: str) -> str:
    out = StringIO()
    call_command("api_token", username, *flags, stdout=out, stderr=StringIO())
    return out.getvalue().strip()


def logged_in(user: User) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


def body(response: Any) -> str:
    return (b"".join(response) if response.streaming else response.content).decode()


def test_a_view_only_staff_user_reads_no_key_anywhere() -> None:
    root = User.objects.create_superuser("root", password="pw-" + uuid.uuid4().hex)
    root_key = issue_by_command("root")
    viewer = staff_user("viewer", "scheduling.view_apitoken", "orchestrator.view_job", "scheduling.view_schedule")
    viewer_key = issue_by_command("viewer")
    token = ApiToken.objects.get(user=root)
    client = logged_in(viewer)
    pages = [
        CHANGELIST,
        f"{CHANGELIST}?q={token.prefix}",
        reverse("admin:scheduling_apitoken_change", args=[token.pk]),
        reverse("admin:scheduling_apitoken_history", args=[token.pk]),
        reverse("admin:scheduling_apitoken_delete", args=[token.pk]),
        ADD,
        "/admin/",
        "/api/jobs/",
        "/api/schema/",
    ]
    for url in pages:
        response = client.get(url)
        assert response.status_code in (200, 403), (url, response.status_code)
        text = body(response)
        assert root_key not in text and viewer_key not in text and token.digest not in text, url
    listing = body(client.get(CHANGELIST))
    assert f"{token.prefix}…" in listing, "the list identifies tokens by their prefix"
    assert root_key[len(token.prefix) :] not in listing
    for key in (root_key, viewer_key):  # the keys themselves still work
        assert api_status(key) == 200


def test_the_database_holds_no_usable_key() -> None:
    root = User.objects.create_superuser("root", password="pw-" + uuid.uuid4().hex)
    staff_user("robot", "orchestrator.view_job")
    by_command = issue_by_command("robot")
    added = logged_in(root).post(ADD, {"user": root.pk})
    assert added.status_code == 200
    by_admin = ApiToken.objects.get(user=root)
    shown = body(added)
    admin_key = shown.split("<code data-api-key>")[1].split("</code>")[0]
    rotated = issue_by_command("robot", "--rotate")

    everything = dump_database()
    for key in (by_command, admin_key, rotated):
        assert key not in everything
        assert key[12:] not in everything, "not even the secret part of a key"
    for token in ApiToken.objects.all():
        # What the table holds does not authenticate: neither the digest nor the prefix is a key.
        assert api_status(token.digest) == 401 and api_status(token.prefix) == 401
        assert len(token.digest) == 64 and token.digest == digest_of(admin_key if token == by_admin else rotated)
    assert api_status(admin_key) == 200 and api_status(rotated) == 200 and api_status(by_command) == 401


def test_the_admin_issues_a_key_once_and_rotates_without_the_old_one() -> None:
    root = User.objects.create_superuser("root", password="pw-" + uuid.uuid4().hex)
    robot = staff_user("robot", "orchestrator.view_job")
    client = logged_in(root)

    response = client.post(ADD, {"user": robot.pk})
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    key = body(response).split("<code data-api-key>")[1].split("</code>")[0]
    assert key.startswith("ost_") and api_status(key) == 200
    token = ApiToken.objects.get(user=robot)
    for url in (
        CHANGELIST,
        reverse("admin:scheduling_apitoken_change", args=[token.pk]),
        reverse("admin:scheduling_apitoken_history", args=[token.pk]),
    ):
        assert key not in body(client.get(url)), f"{url} shows the key again"
    again = client.post(ADD, {"user": robot.pk})
    assert "already has a token" in body(again) and "rotate it" in body(again)

    rotated = client.post(CHANGELIST, {"action": "rotate_action", "_selected_action": [token.pk]})
    assert rotated.status_code == 200 and "no-store" in rotated["Cache-Control"]
    new_key = body(rotated).split("<code data-api-key>")[1].split("</code>")[0]
    assert new_key != key and api_status(key) == 401 and api_status(new_key) == 200
    history = " ".join(e.get_change_message() for e in LogEntry.objects.filter(object_id=str(token.pk)))
    assert "Rotated" in history and new_key not in history and key not in history


def test_only_a_superuser_issues_or_rotates_another_users_key() -> None:
    root = User.objects.create_superuser("root", password="pw-" + uuid.uuid4().hex)
    root_key = issue_by_command("root")
    manager = staff_user(
        "manager",
        "scheduling.view_apitoken",
        "scheduling.add_apitoken",
        "scheduling.change_apitoken",
        "orchestrator.view_job",
    )
    client = logged_in(manager)

    refused = client.post(ADD, {"user": root.pk})
    assert "Only a superuser may issue a token for another user" in body(refused)
    assert ApiToken.objects.filter(user=root).count() == 1
    root_token = ApiToken.objects.get(user=root)
    client.post(CHANGELIST, {"action": "rotate_action", "_selected_action": [root_token.pk]})
    assert ApiToken.objects.get(user=root).digest == root_token.digest and api_status(root_key) == 200

    own = client.post(ADD, {"user": manager.pk})
    own_key = body(own).split("<code data-api-key>")[1].split("</code>")[0]
    assert ApiToken.objects.find(own_key).user == manager and api_status(own_key) == 200
    mine = ApiToken.objects.get(user=manager)
    again = client.post(CHANGELIST, {"action": "rotate_action", "_selected_action": [mine.pk]})
    assert "data-api-key" in body(again) and api_status(own_key) == 401


def test_the_command_prints_a_key_once_rotates_revokes_and_lists_prefixes() -> None:
    staff_user("robot", "orchestrator.view_job")
    key = issue_by_command("robot")
    assert api_status(key) == 200
    with pytest.raises(CommandError, match=r"already has a token .*--rotate"):
        issue_by_command("robot")
    new = issue_by_command("robot", "--rotate")
    assert api_status(key) == 401 and api_status(new) == 200
    listing = StringIO()
    call_command("api_token", list=True, stdout=listing)
    token = ApiToken.objects.get(user__username="robot")
    assert f"robot\t{token.prefix}…" in listing.getvalue() and new not in listing.getvalue()
    call_command("api_token", "robot", revoke=True, stderr=StringIO())
    assert api_status(new) == 401
    with pytest.raises(CommandError, match="no user named 'ghost'"):
        issue_by_command("ghost")


def test_plain_drf_tokens_are_migrated_to_digests_and_keep_working() -> None:
    """The data migration, on a table shaped like ``rest_framework.authtoken``'s (rolled back after)."""
    robot = staff_user("robot", "orchestrator.view_job")
    plain = "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b"
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE authtoken_token (key varchar(40) PRIMARY KEY, created timestamptz NOT NULL, "
            "user_id integer NOT NULL)"
        )
        cursor.execute("INSERT INTO authtoken_token VALUES (%s, now() - interval '1 day', %s)", [plain, robot.pk])
    migration = importlib.import_module("scheduling.migrations.0003_api_tokens")
    with connection.schema_editor() as editor:
        migration.hash_plain_tokens(apps, editor)

    token = ApiToken.objects.get(user=robot)
    assert token.prefix == plain[:12] and token.digest == digest_of(plain)
    assert api_status(plain) == 200, "an existing client keeps working"
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM authtoken_token")
        assert cursor.fetchone() == (0,), "the plain keys are gone"
    assert plain not in dump_database()
