"""When a worker acknowledges a run's message, and what it holds meanwhile (``WORKER_ACKS_LATE``).

Late (the default): the message of the run being executed stays unacknowledged until the run
ends, and nothing more is taken, so nothing waits inside a busy worker. At start
(``WORKER_ACKS_LATE=false``): the running run's message is acknowledged and one more is held in
reserve per process. Both read from a real worker against Redis's ``unacked`` hash (kombu's record
of messages delivered and not yet acknowledged).

A worker that acknowledged at start cannot hand a message back when the database stays down past
its patience: the run's in-flight note goes instead, so the beats' recovery publishes it again.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from celery.exceptions import Reject
from django.core.checks import run_checks
from django.db import OperationalError
from django.utils import timezone

from orchestrator import broker, execution, service
from orchestrator.keys import INFLIGHT
from orchestrator.models import Run, RunStatus, RunTrigger
from tests import factories
from workers import tasks


def start(job, **params) -> Run:
    return service.create_run(service.RunRequest(job=job, trigger=RunTrigger.API, params=params))


@pytest.fixture
def database_down_at_claim(monkeypatch, settings):
    """The claim fails as with a database that stays down past the worker's patience."""
    settings.SCHEDULER_DB_PATIENCE_SECONDS = 0

    def refused(*args, **kwargs):
        raise OperationalError("connection refused (injected)")

    monkeypatch.setattr(execution, "claim_run", refused)


def test_acknowledged_at_start_and_no_database_the_run_is_published_again_by_recovery(
    transactional_db, redis_db, monkeypatch, settings, database_down_at_claim
):
    run = start(factories.job("noop"))
    assert redis_db.zscore(INFLIGHT, str(run.id)) is not None
    redis_db.delete("default")  # the worker took the message and acknowledged it at start
    monkeypatch.setattr(tasks.run, "acks_late", False)

    outcome = tasks.run.apply(args=(str(run.id), 0)).get()

    assert outcome == tasks.LEFT_FOR_RECOVERY
    assert redis_db.zscore(INFLIGHT, str(run.id)) is None, "its note is gone: recovery will see it"
    monkeypatch.undo()  # the database is back
    later = timezone.now() + timedelta(seconds=float(settings.SCHEDULER_LOST_MESSAGE_SECONDS) + 1)
    republished = service.republish_lost(now=later)
    assert [r.id for r in republished] == [run.id]
    message = json.loads(redis_db.lindex("default", 0))
    assert message["headers"]["id"] == broker.task_id_for(run.id, 0)
    assert Run.objects.get(id=run.id).status == RunStatus.QUEUED


def test_acknowledged_late_and_no_database_the_message_is_rejected_with_requeue(
    transactional_db, redis_db, database_down_at_claim
):
    run = start(factories.job("noop"))
    assert tasks.run.acks_late, "the default"
    result = tasks.run.apply(args=(str(run.id), 0))
    assert str(result.state) == "REJECTED"
    assert isinstance(result.result, Reject) and getattr(result.result, "requeue", False) is True
    assert redis_db.zscore(INFLIGHT, str(run.id)) is not None, "the message is still in the broker"


def test_a_visibility_timeout_within_the_database_patience_is_refused(settings):
    settings.SCHEDULER_DB_PATIENCE_SECONDS = 60.0
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {**settings.CELERY_BROKER_TRANSPORT_OPTIONS, "visibility_timeout": 60}
    assert "scheduling.E002" in [message.id for message in run_checks()]
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {**settings.CELERY_BROKER_TRANSPORT_OPTIONS, "visibility_timeout": 300}
    assert "scheduling.E002" not in [message.id for message in run_checks()]


def test_in_flight_notes_outlast_a_short_visibility_timeout(transactional_db, redis_db, settings):
    """A message may wait in a long queue for far longer than a short visibility timeout."""
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {**settings.CELERY_BROKER_TRANSPORT_OPTIONS, "visibility_timeout": 300}
    run = start(factories.job("noop"))
    score = redis_db.zscore(INFLIGHT, str(run.id))
    assert score is not None
    assert score / 1000 - time.time() > settings.SCHEDULER_MAX_JOB_TIMEOUT_SECONDS


def test_a_queued_run_whose_queue_holds_no_message_is_published_again_though_its_note_remains(
    transactional_db, redis_db, settings
):
    """A message confirmed and then dropped (a failover that lost the broker's last writes but not
    our note; a RabbitMQ queue gone) left its run queued for as long as the note lived: hours."""
    waiting, dropped = start(factories.job("noop")), start(factories.job("noop"))
    later = timezone.now() + timedelta(seconds=float(settings.SCHEDULER_LOST_MESSAGE_SECONDS) + 1)
    assert service.republish_lost(now=later) == [], "both messages still wait in the queue"
    redis_db.delete("default")  # the broker lost both messages; our notes are still there
    assert redis_db.zscore(INFLIGHT, str(dropped.id)) is not None
    assert service.republish_lost(now=timezone.now()) == [], "not before SCHEDULER_LOST_MESSAGE_SECONDS"
    republished = service.republish_lost(now=later)
    assert sorted(str(r.id) for r in republished) == sorted([str(waiting.id), str(dropped.id)])
    assert redis_db.llen("default") == 2 and {Run.objects.get(id=r.id).status for r in republished} == {"queued"}
