"""Notification rules at their doors: the API (CRUD, write-only secret, field errors, permissions), the
deliveries list, and the admin (the secret never shown again, "send test")."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from orchestrator import notification_delivery
from orchestrator.hooks import RunEnded, run_ended
from orchestrator.models import Notification, NotificationRule
from tests import factories
from tests.webhook_receiver import Receiver

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "api-secret-7d1c-never-echoed"


def _user(name: str, *codenames: str):
    user = get_user_model().objects.create_user(name, password=f"pw-{name}-123456")
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return user


def _api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def api() -> APIClient:
    return _api(get_user_model().objects.create_superuser("root", password="pw-root-123456"))


def test_rules_are_created_read_changed_and_deleted_and_the_secret_is_never_shown(api):
    schedule = factories.schedule("noop", name="nightly")
    body = {
        "name": "nightly-failures",
        "events": ["run_failed", "run_overdue"],
        "schedule": schedule.name,
        "target": "https://hooks.example.com/ostinato",
        "secret": SECRET,
    }
    created = api.post("/api/notification-rules/", body, format="json")
    assert created.status_code == 201, created.content
    rule = created.json()
    assert rule["has_secret"] is True and rule["channel"] == "webhook" and rule["enabled"] is True
    url = f"/api/notification-rules/{rule['id']}/"
    changed = api.patch(url, {"events": ["run_missed"], "enabled": False}, format="json")
    assert changed.status_code == 200 and changed.json()["events"] == ["run_missed"]
    assert NotificationRule.objects.get(pk=rule["id"]).secret == SECRET, "a change without a secret keeps it"
    for answer in (created, changed, api.get(url), api.get("/api/notification-rules/")):
        assert SECRET not in answer.content.decode()
    assert api.delete(url).status_code == 204 and not NotificationRule.objects.exists()


def test_a_webhook_rule_without_a_secret_gets_one_shown_once(api):
    created = api.post(
        "/api/notification-rules/",
        {"name": "generated", "events": ["run_failed"], "target": "http://127.0.0.1:9/hook"},
        format="json",
    ).json()
    stored = NotificationRule.objects.get(pk=created["id"]).secret
    assert len(stored) >= 32 and created["secret"] == stored, "shown in the answer to the save that made it"
    assert stored not in api.get(f"/api/notification-rules/{created['id']}/").content.decode(), "never again"


def test_invalid_rules_are_refused_naming_the_field(api):
    def errors(body: dict) -> dict:
        answer = api.post("/api/notification-rules/", body, format="json")
        assert answer.status_code == 400, answer.content
        return answer.json()

    assert set(errors({"events": ["run_failed"], "target": "https://x.example"})) == {"name"}
    assert "events" in errors({"name": "a", "events": ["run_exploded"], "target": "https://x.example"})
    assert "events" in errors({"name": "a", "events": [], "target": "https://x.example"})
    assert "target" in errors({"name": "a", "events": ["run_failed"], "target": "ftp://x.example/"})
    assert "target" in errors({"name": "a", "events": ["run_failed"], "channel": "email", "target": "not-an-address"})
    assert "channel" in errors({"name": "a", "events": ["run_failed"], "channel": "pager", "target": "https://x"})
    assert "schedule" in errors({"name": "a", "events": ["run_failed"], "schedule": "nope", "target": "https://x"})
    assert "job" in errors({"name": "a", "events": ["run_failed"], "job": "nope", "target": "https://x"})
    assert "name" in errors({"name": "a\x00b", "events": ["run_failed"], "target": "https://x"})
    api.post(
        "/api/notification-rules/", {"name": "taken", "events": ["run_failed"], "target": "https://x"}, format="json"
    )
    assert "name" in errors({"name": "taken", "events": ["run_failed"], "target": "https://x"})
    assert NotificationRule.objects.count() == 1


def test_deliveries_are_listed_and_filtered_without_the_secret(api):
    with Receiver(secret=SECRET) as hook:
        rule = NotificationRule.objects.create(name="r", events=["run_failed"], target=hook.url, secret=SECRET)
        run = factories.run_row("noop", status="failed", finished_at=timezone.now(), error="boom")
        run_ended.send(RunEnded(run_id=run.pk, job_key="noop", status="failed", snapshot=run.directive_snapshot))
        (row,) = Notification.objects.all()
        notification_delivery.deliver(row.pk, now=timezone.now())
    listed = api.get("/api/notifications/?status=sent&event=run_failed&rule=r")
    assert listed.status_code == 200
    (item,) = listed.json()["results"]
    assert item["rule"] == rule.name and item["status"] == "sent" and item["attempts"] == 1
    assert item["run_id"] == str(run.pk) and item["payload"]["error"] == "boom"
    assert api.get("/api/notifications/?status=failed").json()["results"] == []
    assert SECRET not in listed.content.decode()


def test_permissions_are_the_models(api):
    viewer = _api(_user("viewer", "view_notificationrule", "view_notification"))
    assert viewer.get("/api/notification-rules/").status_code == 200
    assert viewer.get("/api/notifications/").status_code == 200
    body = {"name": "x", "events": ["run_failed"], "target": "https://x"}
    assert viewer.post("/api/notification-rules/", body, format="json").status_code == 403
    assert _api(_user("nobody")).get("/api/notifications/").status_code == 403
    assert APIClient().get("/api/notification-rules/").status_code == 401


def test_the_admin_never_shows_the_secret_and_sends_a_test():
    root = get_user_model().objects.create_superuser("admin", password="pw-admin-123456")
    client = Client()
    client.force_login(root)
    with Receiver(secret=SECRET) as hook:
        added = client.post(
            "/admin/orchestrator/notificationrule/add/",
            {
                "name": "ops",
                "events": ["run_failed", "run_missed"],
                "channel": "webhook",
                "target": hook.url,
                "secret": SECRET,
                "enabled": "on",
                "schedule": "",
                "job": "",
                "tenant": "",
                "description": "",
            },
        )
        assert added.status_code == 302, added.content.decode()[:3000]
        rule = NotificationRule.objects.get(name="ops")
        assert rule.secret == SECRET and rule.events == ["run_failed", "run_missed"]
        page = client.get(f"/admin/orchestrator/notificationrule/{rule.pk}/change/")
        assert page.status_code == 200 and SECRET not in page.content.decode()
        refused = client.post(
            "/admin/orchestrator/notificationrule/add/",
            {"name": "bad", "events": ["run_failed"], "channel": "webhook", "target": "nowhere", "secret": ""},
        )
        assert refused.status_code == 200 and "http:// or https:// URL" in refused.content.decode()
        tested = client.post(
            "/admin/orchestrator/notificationrule/",
            {"action": "send_test", "_selected_action": [rule.pk]},
            follow=True,
        )
        assert tested.status_code == 200 and "sent" in tested.content.decode()
        (received,) = hook.deliveries()
        assert received.verified and received.body["test"] is True
    deliveries = client.get("/admin/orchestrator/notification/")
    assert deliveries.status_code == 200 and "notification_test" in deliveries.content.decode()
    assert SECRET not in deliveries.content.decode()


def _write(tmp_path, text: str):
    path = tmp_path / "schedules.yaml"
    path.write_text(text)
    return path


def test_yaml_defines_rules_with_the_secret_from_the_environment(tmp_path, monkeypatch):
    from scheduling.surfaces.yaml_sync import sync

    monkeypatch.setenv("OSTINATO_TEST_HOOK_SECRET", SECRET)
    path = _write(
        tmp_path,
        """
notifications:
  - name: nightly-alerts
    events: [run_failed, run_overdue]
    schedule: nightly
    target: https://hooks.example.com/ostinato
    secret_env: OSTINATO_TEST_HOOK_SECRET
  - name: mail-ops
    events: [run_missed]
    channel: email
    target: ops@example.com
schedules:
  - name: nightly
    job: noop
    cron: "0 2 * * *"
""",
    )
    report = sync(path)
    assert report.count("create") == 3, "the schedule, then the rules that may name it"
    rule = NotificationRule.objects.get(name="nightly-alerts")
    assert rule.secret == SECRET and rule.schedule == "nightly" and rule.events == ["run_failed", "run_overdue"]
    assert NotificationRule.objects.get(name="mail-ops").addresses() == ["ops@example.com"]
    assert sync(path).count("unchanged") == 3
    monkeypatch.setenv("OSTINATO_TEST_HOOK_SECRET", "rotated-" + SECRET)
    (change,) = [c for c in sync(path).changes if c.action == "update"]
    assert change.fields == (("secret", "(hidden)", "(hidden)"),) and SECRET not in repr(change)


def test_yaml_refuses_bad_rules_naming_file_entry_and_field(tmp_path):
    from scheduling.surfaces.yaml_sync import SyncError, sync

    path = _write(
        tmp_path,
        """
notifications:
  - name: leaky
    events: [run_failed]
    target: https://hooks.example.com/
    secret: written-in-the-file
  - name: wrong
    events: [run_exploded]
    schedule: nowhere
    target: ftp://x
""",
    )
    with pytest.raises(SyncError) as refused:
        sync(path)
    problems = {(p.name, p.field) for p in refused.value.problems}
    assert ("leaky", "secret") in problems
    path.write_text(path.read_text().replace("    secret: written-in-the-file\n", ""))
    with pytest.raises(SyncError) as refused:
        sync(path)
    fields = {p.field for p in refused.value.problems if p.name == "wrong"}
    assert {"events", "schedule", "target"} <= fields and "written-in-the-file" not in str(refused.value)
    assert not NotificationRule.objects.exists(), "nothing applied"


def test_the_notification_settings_are_checked_at_start_up(settings):
    from orchestrator.checks import check_notifications

    assert check_notifications(None) == []
    settings.SCHEDULER_NOTIFY_QUEUE = "no spaces allowed"
    settings.SCHEDULER_NOTIFY_TIMEOUT_SECONDS = 0
    settings.SCHEDULER_PUBLIC_URL = "ostinato.example.com"
    settings.SCHEDULER_NOTIFY_CA_FILE = "/nonexistent/ca.pem"
    found = {m.id: m.msg for m in check_notifications(None)}
    assert set(found) == {"orchestrator.E012", "orchestrator.E013", "orchestrator.W010", "orchestrator.E015"}
    assert "SCHEDULER_NOTIFY_CA_FILE '/nonexistent/ca.pem' is not a file" in found["orchestrator.E015"]
