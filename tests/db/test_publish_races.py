"""A worker faster than the publisher: it takes a run's message before ``publish_runs`` returns.

Found by ``tests/live/test_sentinel_failover.py`` on a loaded machine: a limited run was published
by recovery, a worker took the message at once, claimed the run, found the job's limit full and
gave it back (``pending``, waiting for a slot); the publisher then marked it ``queued``. Queued
with no message, and with an in-flight note left by a duplicate message dropped at the claim, it
was never published again (``republish_lost`` skips runs with a note; ``publish_due`` skips queued
runs). The runs are now marked ``queued`` before their messages go out.
"""

from __future__ import annotations

import time
from datetime import timedelta

from django.utils import timezone

from orchestrator import broker, keys, service
from orchestrator.errors import PublishError
from orchestrator.keys import INFLIGHT
from orchestrator.models import Run, RunStatus, RunTrigger
from tests import factories
from workers import tasks
from workers.leases import Leases, Limit


def test_a_run_given_back_during_its_publish_stays_pending_and_is_published_again(
    transactional_db, redis_db, monkeypatch, settings
):
    job = factories.job("noop", max_concurrency=1)
    held = Limit(scope=keys.job_scope(job.key), capacity=1, label="job noop max_concurrency=1")
    assert Leases().acquire("holder", [held], ttl_seconds=60).granted, "another run holds the only slot"
    really_publish = broker.publish
    deliveries: list[str] = []

    def taken_at_once(messages):
        really_publish(messages)
        for message in messages:  # a worker's BRPOP, its claim and the full limit, before the publish returns
            assert redis_db.rpop(message.queue) is not None
            deliveries.append(tasks.run.apply(args=(str(message.run_id), message.attempt)).get())

    monkeypatch.setattr(broker, "publish", taken_at_once)
    run = service.create_run(service.RunRequest(job=job, trigger=RunTrigger.API, params={}))
    monkeypatch.undo()

    assert deliveries == [tasks.WAITING]
    assert Run.objects.get(id=run.id).status == RunStatus.PENDING, "waiting for a slot, not queued without a message"
    # A duplicate of its message dropped at the claim (the run was running then) leaves a note.
    redis_db.zadd(INFLIGHT, {str(run.id): broker.note_expiry_ms(time.time())})

    wait = max(float(settings.SCHEDULER_WAIT_RECHECK_SECONDS), float(settings.SCHEDULER_LOST_MESSAGE_SECONDS))
    later = timezone.now() + timedelta(seconds=wait + 1)
    recovered = service.publish_due(now=later) + service.republish_lost(now=later)
    assert [r.id for r in recovered] == [run.id]
    assert Run.objects.get(id=run.id).status == RunStatus.QUEUED
    assert redis_db.llen(job.queue) == 1


def test_a_failed_publish_puts_its_runs_back_to_pending_never_announced(transactional_db, redis_db, monkeypatch):
    job = factories.job("noop")

    def refused(messages):
        raise PublishError([str(m.run_id) for m in messages], "broker down (injected)")

    monkeypatch.setattr(broker, "publish", refused)
    run = service.create_run(service.RunRequest(job=job, trigger=RunTrigger.API, params={}))
    monkeypatch.undo()

    row = Run.objects.get(id=run.id)
    assert (row.status, row.queued_at) == (RunStatus.PENDING, None)
    assert service.announced_by_recovery(row), "recovery announces its first publish"
    assert [r.id for r in service.publish_due(now=timezone.now() + timedelta(hours=1))] == [run.id]
    assert Run.objects.get(id=run.id).status == RunStatus.QUEUED
