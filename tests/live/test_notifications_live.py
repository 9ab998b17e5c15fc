"""Notifications with a real beat and real workers, one of them consuming only the notifications queue.

A webhook receiver in this process verifies every signature and counts deliveries: a failing job,
a missed occurrence and an overdue run each reach it once per matching rule; a notifications worker
killed mid-delivery leaves its claim to lapse, a beat republishes the task, and another worker
delivers it: one row, recorded sent once.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from django.utils import timezone

from orchestrator.models import Notification, NotificationRule
from scheduling.engine import controls
from scheduling.models import Schedule
from tests import factories
from tests.helpers import QUICK, wait_ready
from tests.processes import wait_until
from tests.webhook_receiver import Receiver

SECRET = "live-secret-2b7e"
NOTIFY = {**QUICK, "SCHEDULER_NOTIFY_REPUBLISH_SECONDS": "1", "SCHEDULER_NOTIFY_BACKOFF_SECONDS": "0.5"}


def test_failed_missed_and_overdue_runs_reach_the_webhook_through_a_notifications_worker(live):
    with Receiver(secret=SECRET) as hook:
        NotificationRule.objects.create(
            name="everything",
            events=["run_failed", "run_timed_out", "run_missed", "run_overdue", "schedule_paused"],
            target=hook.url,
            secret=SECRET,
        )
        NotificationRule.objects.create(name="other-job", events=["run_failed"], job="probe", target=hook.url)
        procs = [
            live.worker("jobs", env=NOTIFY, concurrency=2),
            live.worker("notify", queues="notifications", env=NOTIFY, concurrency=2),
            live.beat("beat", env=NOTIFY),
        ]
        for proc in procs:
            wait_ready(proc)
        now = timezone.now()
        soon = now + timedelta(seconds=2)
        failing = factories.schedule("crash", kind="once", run_at=soon, params={"how": "c_error"})
        missed = factories.schedule("noop", interval_seconds=3600, misfire_policy="skip")
        Schedule.objects.filter(pk=missed.pk).update(
            next_run_at=now - timedelta(hours=2), due_at=now - timedelta(hours=2)
        )
        overdue = factories.schedule(
            "probe", kind="once", run_at=soon, params={"seconds": 4, "key": "notify-probe"}, deadline_seconds=1
        )

        def delivered() -> Counter[tuple[str, str]]:
            return Counter((item.event, item.body["schedule"]["name"]) for item in hook.deliveries())

        wanted = {("run_failed", failing.name), ("run_missed", missed.name), ("run_overdue", overdue.name)}
        wait_until(lambda: wanted <= set(delivered()), timeout=60, message=f"deliveries of {wanted}")
        wait_until(lambda: not Notification.objects.exclude(status="sent").exists(), timeout=20)
        missed_count = Notification.objects.filter(event="run_missed").count()
        assert delivered() == Counter(
            {
                ("run_failed", failing.name): 1,
                ("run_missed", missed.name): missed_count,
                ("run_overdue", overdue.name): 1,
            }
        ), "once per run or occurrence; the other rule's job never failed"
        assert all(item.verified for item in hook.deliveries())
        assert set(Notification.objects.values_list("rule__name", "status", "attempts")) == {("everything", "sent", 1)}


def test_a_worker_killed_mid_delivery_leaves_it_to_another_and_it_is_recorded_sent_once(live):
    env = {**NOTIFY, "SCHEDULER_NOTIFY_TIMEOUT_SECONDS": "3"}
    with Receiver(secret=SECRET, hang_first=1, hang_seconds=60) as hook:
        NotificationRule.objects.create(name="held", events=["schedule_paused"], target=hook.url, secret=SECRET)
        first = live.worker("notify-1", queues="notifications", env=env, concurrency=1)
        beat = live.beat("beat", env=env)
        for proc in (first, beat):
            wait_ready(proc)
        schedule = factories.schedule("noop", interval_seconds=3600)
        controls.pause([schedule.pk], note="maintenance window", by="alice")
        wait_until(lambda: len(hook.deliveries()) == 1, timeout=30, message="the first attempt reaches the endpoint")
        first.kill()  # mid-delivery: the endpoint holds the request
        (row,) = Notification.objects.all()
        assert row.status == "sending" and row.attempts == 1
        second = live.worker("notify-2", queues="notifications", env=env, concurrency=1)
        wait_ready(second)
        wait_until(
            lambda: Notification.objects.filter(status="sent").exists(),
            timeout=60,
            message="the lapsed claim is republished by the beat and delivered by the other worker",
        )
        row.refresh_from_db()
        assert (row.status, row.attempts) == ("sent", 2)
        received = hook.deliveries()
        assert len(received) == 2 and {item.delivery for item in received} == {str(row.pk)}, (
            "the same delivery id: the endpoint can drop the repeat of an attempt cut off mid-way"
        )
        assert all(item.verified for item in received)
