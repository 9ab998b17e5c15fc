"""Notifications on PostgreSQL: each event reaches each matching rule exactly once, signed, off the dispatch path.

A real HTTP receiver (``tests.webhook_receiver``) in a thread verifies every signature and counts
deliveries; this process makes the delivery attempts a worker of the notifications queue would
(``notification_delivery.deliver``), so the tests can step the clock through retries and leases.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.core import mail
from django.utils import timezone

from orchestrator import events, execution, notification_delivery, notifications
from orchestrator.hooks import RunEnded, run_ended
from orchestrator.models import Notification, NotificationRule, Run, RunStatus
from scheduling.engine import controls, deadlines, dispatch
from scheduling.models import Schedule, ScheduledRun
from tests import factories, records
from tests.webhook_receiver import Receiver, tls_files

pytestmark = pytest.mark.django_db(transaction=True)

T = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SECRET = "s3cr3t-never-shown-4f9a"


@pytest.fixture
def event_log(settings, tmp_path: Path) -> Path:
    settings.EVENTS_PATH = tmp_path / "events.jsonl"
    return Path(settings.EVENTS_PATH)


@pytest.fixture
def hook() -> Iterator[Receiver]:
    with Receiver(secret=SECRET) as receiver:
        yield receiver


def rule(name: str, target: str, *events: str, **fields) -> NotificationRule:
    return NotificationRule.objects.create(name=name, events=list(events), target=target, secret=SECRET, **fields)


def deliver_all(now: datetime | None = None) -> list[notification_delivery.Attempt]:
    """What the notifications queue's workers would do with every row due now."""
    now = now or timezone.now()
    ids = Notification.objects.filter(status__in=["pending", "sending"]).values_list("pk", flat=True)
    return [notification_delivery.deliver(pk, now=now) for pk in ids]


def logged(path: Path, name: str) -> list[dict]:
    if not path.exists():
        return []
    return [e for e in map(json.loads, path.read_text().splitlines()) if e["event"] == name]


def test_a_failing_run_is_delivered_once_to_each_matching_rule_signed(hook, event_log, redis_db):
    schedule = factories.schedule("crash", interval_seconds=3600, params={"how": "c_error"}, tenant="acme")
    Schedule.objects.filter(pk=schedule.pk).update(next_run_at=T, due_at=T)
    dispatch.dispatch_due(T + timedelta(seconds=1))
    run = ScheduledRun.objects.get(schedule=schedule, scheduled_for=T).run
    matching = [
        rule("all-failures", hook.url, "run_failed", "run_timed_out"),
        rule("this-job", hook.url, "run_failed", job="crash"),
        rule("this-schedule-and-tenant", hook.url, "run_failed", schedule=schedule.name, tenant="acme"),
    ]
    rule("other-job", hook.url, "run_failed", job="noop")
    rule("other-tenant", hook.url, "run_failed", tenant="globex")
    rule("other-schedule", hook.url, "run_failed", schedule="nightly")
    rule("timeouts-only", hook.url, "run_timed_out")
    rule("switched-off", hook.url, "run_failed", enabled=False)

    outcome = execution.execute_run(run.pk, attempt=run.attempt, worker="w1@test")
    assert outcome.status == RunStatus.FAILED
    rows = Notification.objects.filter(run_id=run.pk)
    assert sorted(rows.values_list("rule__name", flat=True)) == sorted(r.name for r in matching)
    # the same end seen again (a repeated hook): no second row
    run_ended.send(RunEnded(run_id=run.pk, job_key="crash", status="failed", snapshot=run.directive_snapshot))
    assert rows.count() == 3

    deliver_all()
    deliver_all()  # a duplicate task finds nothing to claim
    received = hook.deliveries()
    assert len(received) == 3 and all(item.verified for item in received), "signed with the rule's secret"
    assert {item.event for item in received} == {"run_failed"}
    assert {item.body["rule"] for item in received} == {r.name for r in matching}
    body = received[0].body
    assert body["run_id"] == str(run.pk) and body["job"] == "crash" and body["status"] == "failed"
    assert body["schedule"] == {"id": schedule.pk, "name": schedule.name} and body["tenant"] == "acme"
    assert body["scheduled_for"] == "2026-03-02T09:00:00.000Z"
    assert body["error"].startswith("TypeError") and body["link"].endswith(f"/admin/orchestrator/run/{run.pk}/change/")
    assert body["started_at"] and body["finished_at"]
    assert set(rows.values_list("status", "attempts")) == {("sent", 1)}
    assert {item.delivery for item in received} == {str(pk) for pk in rows.values_list("pk", flat=True)}
    sent = logged(event_log, "notification_sent")
    assert len(sent) == 3 and {e["notified"] for e in sent} == {"run_failed"}
    assert SECRET not in event_log.read_text()


def test_a_missed_occurrence_is_delivered_once_per_matching_rule(hook, redis_db):
    missed = factories.schedule("noop", interval_seconds=3600, misfire_policy="skip", tenant="acme")
    Schedule.objects.filter(pk=missed.pk).update(next_run_at=T - timedelta(hours=2), due_at=T - timedelta(hours=2))
    rule("missed", hook.url, "run_missed")
    rule("missed-acme", hook.url, "run_missed", tenant="acme")
    rule("missed-elsewhere", hook.url, "run_missed", schedule="another")
    rule("failures", hook.url, "run_failed")

    dispatch.dispatch_due(T)
    dispatch.dispatch_due(T + timedelta(seconds=1))  # a second tick (or beat) records nothing again
    occurrences = ScheduledRun.objects.filter(schedule=missed, status="missed")
    assert occurrences.exists()
    rows = Notification.objects.filter(event="run_missed")
    count = occurrences.count()
    assert sorted(rows.values_list("rule__name", flat=True)) == ["missed"] * count + ["missed-acme"] * count
    assert set(rows.values_list("subject", flat=True)) == {
        f"{missed.pk}@{events.utc_stamp(moment)}" for moment in occurrences.values_list("scheduled_for", flat=True)
    }, "one delivery per rule and occurrence"
    deliver_all()
    received = hook.deliveries("run_missed")
    assert len(received) == 2 * count and all(item.verified for item in received)
    body = received[0].body
    assert body["schedule"]["name"] == missed.name and body["run_id"] is None and body["status"] == "missed"
    assert body["reason"] and body["missed_count"] >= 1


def test_an_overdue_run_is_delivered_once_per_matching_rule(hook, redis_db):
    schedule = factories.schedule("noop", interval_seconds=3600, deadline_seconds=60)
    Schedule.objects.filter(pk=schedule.pk).update(next_run_at=T, due_at=T)
    dispatch.dispatch_due(T + timedelta(seconds=1))
    run = ScheduledRun.objects.get(schedule=schedule, scheduled_for=T).run
    rule("overdue", hook.url, "run_overdue")
    rule("overdue-noop", hook.url, "run_overdue", job="noop")
    rule("overdue-other", hook.url, "run_overdue", job="crash")

    assert deadlines.mark_overdue(T + timedelta(seconds=61))
    assert deadlines.mark_overdue(T + timedelta(minutes=5)) == []  # flagged once, however many passes
    deliver_all()
    received = hook.deliveries("run_overdue")
    assert len(received) == 2 and all(item.verified for item in received)
    assert received[0].body["run_id"] == str(run.pk) and received[0].body["deadline_seconds"] == 60
    assert received[0].body["status"] == "running"


def test_a_schedule_that_pauses_itself_is_delivered_once(hook, redis_db):
    schedule = factories.schedule("noop", interval_seconds=60, pause_after_failures=2)
    rule("paused", hook.url, "schedule_paused")
    rule("paused-other", hook.url, "schedule_paused", schedule="another")
    for minute in range(3):
        run = records.run_for(schedule, status=RunStatus.RUNNING, scheduled_for=T + timedelta(minutes=minute))
        run.status, run.finished_at = RunStatus.FAILED, timezone.now()
        run.save(update_fields=["status", "finished_at"])
        run_ended.send(RunEnded(run_id=run.id, job_key="noop", status="failed", snapshot=run.directive_snapshot))
    assert Schedule.objects.get(pk=schedule.pk).paused
    deliver_all()
    (received,) = hook.deliveries("schedule_paused")
    assert received.verified and received.body["by"] == controls.SYSTEM
    assert received.body["schedule"]["name"] == schedule.name and "consecutive" in received.body["note"]


def test_a_dead_endpoint_is_retried_with_backoff_then_recorded_failed(settings, event_log, redis_db):
    settings.SCHEDULER_NOTIFY_MAX_ATTEMPTS = 3
    settings.SCHEDULER_NOTIFY_BACKOFF_SECONDS = 10.0
    with Receiver(secret=SECRET, mode="fail") as dead:
        rule("dead", dead.url, "run_failed")
        run = factories.run_row("noop", status="failed", finished_at=T, error="boom")
        run_ended.send(RunEnded(run_id=run.pk, job_key="noop", status="failed", snapshot=run.directive_snapshot))
        (row,) = Notification.objects.all()
        first = notification_delivery.deliver(row.pk, now=T)
        assert first.status == "pending" and first.retry_in_seconds == 10.0
        assert not notification_delivery.deliver(row.pk, now=T + timedelta(seconds=9)).claimed, "backing off"
        second = notification_delivery.deliver(row.pk, now=T + timedelta(seconds=10))
        assert second.retry_in_seconds == 20.0, "exponential"
        third = notification_delivery.deliver(row.pk, now=T + timedelta(seconds=30))
        assert third.status == "failed"
        assert not notification_delivery.deliver(row.pk, now=T + timedelta(hours=1)).claimed
        assert len(dead.deliveries()) == 3
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("failed", 3) and "HTTP 500" in row.last_error
    (failed,) = logged(event_log, "notification_failed")
    assert failed["rule"] == "dead" and failed["attempts"] == 3 and "HTTP 500" in failed["error"]


def test_a_hanging_endpoint_times_out_and_never_delays_the_beat(settings, redis_db):
    settings.SCHEDULER_NOTIFY_TIMEOUT_SECONDS = 0.5
    with Receiver(mode="hang", hang_seconds=20) as hanging:
        rule("hangs", hanging.url, "run_missed")
        missed = factories.schedule("noop", interval_seconds=3600, misfire_policy="skip")
        Schedule.objects.filter(pk=missed.pk).update(next_run_at=T - timedelta(hours=2), due_at=T - timedelta(hours=2))
        healthy = factories.schedule("noop", interval_seconds=3600)
        Schedule.objects.filter(pk=healthy.pk).update(next_run_at=T, due_at=T)
        began = time.monotonic()
        report = dispatch.dispatch_due(T + timedelta(seconds=1))
        assert time.monotonic() - began < 2.0, "routing writes a row; it never calls the endpoint"
        assert ScheduledRun.objects.get(schedule=healthy, scheduled_for=T).run is not None
        assert report.published >= 1 and not report.unpublished
        missed_count = ScheduledRun.objects.filter(schedule=missed, status="missed").count()
        assert Notification.objects.filter(status="pending").count() == missed_count >= 1
        began = time.monotonic()
        attempts = deliver_all()
        assert time.monotonic() - began < 1.0 * missed_count + 3.0, "each attempt gives up after the timeout"
        assert {a.status for a in attempts} == {"pending"} and all("no answer within 0.5s" in a.error for a in attempts)


def test_a_redirect_to_another_host_is_not_followed(redis_db):
    with Receiver(secret=SECRET) as elsewhere, Receiver(mode="redirect") as redirecting:
        redirecting.redirect_to = elsewhere.url
        rule("redirected", redirecting.url, "run_failed")
        run = factories.run_row("noop", status="failed", finished_at=T)
        run_ended.send(RunEnded(run_id=run.pk, job_key="noop", status="failed", snapshot=run.directive_snapshot))
        (attempt,) = deliver_all()
        assert "redirect to another host" in attempt.error and elsewhere.deliveries() == []


def test_https_endpoints_are_verified_against_the_system_cas_and_the_configured_ca_file(settings, tmp_path, redis_db):
    """A private CA's endpoint fails until its CA is in ``SCHEDULER_NOTIFY_CA_FILE``; then it is delivered, signed."""
    ca, cert, key = tls_files(tmp_path)
    settings.SCHEDULER_NOTIFY_MAX_ATTEMPTS = 3
    with Receiver(secret=SECRET, tls=(cert, key)) as secure:
        assert secure.url.startswith("https://127.0.0.1:")
        rule("secure", secure.url, "run_failed")
        run = factories.run_row("noop", status="failed", finished_at=T, error="boom")
        run_ended.send(RunEnded(run_id=run.pk, job_key="noop", status="failed", snapshot=run.directive_snapshot))
        (refused,) = deliver_all(T)
        assert refused.status == "pending" and "CERTIFICATE_VERIFY_FAILED" in refused.error, refused.error
        assert secure.deliveries() == [], "nothing is sent to a host whose certificate does not verify"
        settings.SCHEDULER_NOTIFY_CA_FILE = str(tmp_path / "missing.pem")
        (unloadable,) = deliver_all(T + timedelta(hours=1))
        assert "missing.pem cannot be loaded" in unloadable.error, unloadable.error
        settings.SCHEDULER_NOTIFY_CA_FILE = str(ca)
        (sent,) = deliver_all(T + timedelta(hours=2))
        assert sent.status == "sent", sent.error
        (received,) = secure.deliveries()
        assert received.verified and received.event == "run_failed" and received.body["run_id"] == str(run.pk)


def test_a_row_held_by_a_live_worker_is_not_taken_and_a_lapsed_lease_is_retried_never_a_sent_row(hook, redis_db):
    rule("once", hook.url, "run_failed")
    run = factories.run_row("noop", status="failed", finished_at=T)
    run_ended.send(RunEnded(run_id=run.pk, job_key="noop", status="failed", snapshot=run.directive_snapshot))
    (row,) = Notification.objects.all()
    # a worker claimed it and was killed mid-delivery: its lease runs until T + 60s
    Notification.objects.filter(pk=row.pk).update(
        status="sending", attempts=1, lease_until=T + timedelta(seconds=60), published_at=T
    )
    assert not notification_delivery.deliver(row.pk, now=T + timedelta(seconds=30)).claimed
    assert notifications.republish_stale(T + timedelta(seconds=30)) == 0, "the lease still holds"
    assert notifications.republish_stale(T + timedelta(seconds=90)) == 1, "lapsed: a beat republishes it"
    assert notifications.republish_stale(T + timedelta(seconds=91)) == 0, "once"
    assert notification_delivery.deliver(row.pk, now=T + timedelta(seconds=91)).status == "sent"
    assert notifications.republish_stale(T + timedelta(days=1)) == 0
    assert not notification_delivery.deliver(row.pk, now=T + timedelta(days=1)).claimed
    assert len(hook.deliveries()) == 1
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("sent", 2)


def test_concurrent_deliveries_of_one_row_send_it_once(hook, redis_db):
    rule("race", hook.url, "run_failed")
    run = factories.run_row("noop", status="failed", finished_at=T)
    run_ended.send(RunEnded(run_id=run.pk, job_key="noop", status="failed", snapshot=run.directive_snapshot))
    (row,) = Notification.objects.all()
    now = timezone.now()
    barrier = threading.Barrier(4)
    outcomes: list[notification_delivery.Attempt] = []

    def worker() -> None:
        from django.db import connection

        barrier.wait()
        try:
            outcomes.append(notification_delivery.deliver(row.pk, now=now))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sum(1 for item in outcomes if item.claimed) == 1
    assert len(hook.deliveries()) == 1


def test_email_goes_through_djangos_mail_settings(settings, redis_db):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    NotificationRule.objects.create(
        name="mail", events=["run_failed"], channel="email", target="ops@example.com, oncall@example.com"
    )
    run = factories.run_row("noop", status="failed", finished_at=T, error="disk full\ntraceback…")
    run_ended.send(RunEnded(run_id=run.pk, job_key="noop", status="failed", snapshot=run.directive_snapshot))
    (attempt,) = deliver_all()
    assert attempt.status == "sent"
    (message,) = mail.outbox
    assert message.to == ["ops@example.com", "oncall@example.com"] and "run_failed" in message.subject
    assert str(run.pk) in message.body and "disk full" in message.body and "traceback" not in message.body


def test_send_test_delivers_a_signed_test_notification(hook, redis_db):
    row = notification_delivery.send_test(rule("tested", hook.url, "run_failed"), now=timezone.now())
    assert row.status == "sent" and row.event == "notification_test"
    (received,) = hook.deliveries()
    assert received.verified and received.body["test"] is True and received.event == "notification_test"


def test_the_secret_is_never_logged_nor_in_the_event_log(settings, caplog, event_log, redis_db):
    settings.SCHEDULER_NOTIFY_MAX_ATTEMPTS = 1
    caplog.set_level(logging.DEBUG)
    with Receiver(secret=SECRET, mode="fail") as dead:
        rule("quiet", dead.url + "?token=abc", "run_failed")
        run = factories.run_row("noop", status="failed", finished_at=T)
        run_ended.send(RunEnded(run_id=run.pk, job_key="noop", status="failed", snapshot=run.directive_snapshot))
        deliver_all()
        assert dead.deliveries() and dead.deliveries()[0].path == "/hook?token=abc"
    assert SECRET not in caplog.text and SECRET not in event_log.read_text()
    assert "token=abc" not in caplog.text and "token=abc" not in event_log.read_text(), "nor the URL's query"
    assert Run.objects.filter(pk=run.pk).exists()


def test_a_dead_beat_shows_as_no_live_beats_in_the_metrics(settings, redis_db):
    """The gauge docs/prometheus/ostinato-alerts.yml alerts on: 0 when no beat heartbeat is fresh."""
    from scheduling.engine import heartbeat
    from scheduling.ops import metrics

    def live() -> float:
        for line in metrics.render("web").decode().splitlines():
            if line.startswith("ostinato_beats_live "):
                return float(line.split()[1])
        raise AssertionError("ostinato_beats_live missing")

    assert live() == 0
    beat = heartbeat.BeatHeartbeat()
    beat.record(duration_seconds=0.01, dispatched=0)
    assert live() == 1
    beat.clear()
    assert live() == 0


def test_two_processes_routing_the_same_events_at_once_make_one_row_each(hook, redis_db):
    """As two beats would: the unique (rule, event, subject) is the last line of defence."""
    rule("race-route", hook.url, "run_missed", "run_overdue")
    alerts = [
        notifications.Alert(event="run_missed", subject=f"7@{minute}", at=T, schedule="s", schedule_id=7)
        for minute in range(20)
    ]
    barrier = threading.Barrier(3)
    inserted: list[list[int]] = []

    def beat() -> None:
        from django.db import connection

        barrier.wait()
        try:
            inserted.append(notifications.route(alerts, now=T))
        finally:
            connection.close()

    threads = [threading.Thread(target=beat) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(pk for ids in inserted for pk in ids) == sorted(Notification.objects.values_list("pk", flat=True))
    assert Notification.objects.count() == 20
