"""Readiness and the status page with RabbitMQ as the broker: its own check, and what depends on it."""

from __future__ import annotations

import pytest

from scheduling.ops import health, status
from tests import brokers, factories

pytestmark = pytest.mark.django_db

#: Nothing listens on port 1: a RabbitMQ that does not answer.
DEAD_RABBITMQ = "amqp://guest:guest@127.0.0.1:1//"


def test_a_rabbitmq_that_does_not_answer_fails_the_broker_check_and_leaves_the_workers_unknown(redis_db):
    factories.schedule("noop", kind="cron", cron="0 3 1 1 *")
    with brokers.celery_broker(DEAD_RABBITMQ):
        checks = {check.name: check for check in health.readiness().checks}
        snap = status.snapshot()
    assert not checks["broker"].ok and "the broker does not answer" in checks["broker"].detail
    assert checks["redis"].ok, "Redis keeps our keys; it is not the broker here"
    assert not checks["workers"].ok and "through the broker" in checks["workers"].detail
    assert "broker" in snap.errors and snap.queue_depths == {} and snap.workers == []


def test_a_rabbitmq_that_answers_passes_the_broker_check(redis_db, rabbitmq_url):
    with brokers.celery_broker(rabbitmq_url):
        checks = {check.name: check for check in health.readiness().checks}
        depths = status.snapshot().queue_depths
    assert checks["broker"].ok and checks["broker"].detail == "amqp answers"
    assert depths == {"default": 0}, "a queue no one declared yet is empty"


def test_with_redis_as_the_broker_there_is_no_separate_broker_check(redis_db):
    assert "broker" not in {check.name for check in health.readiness().checks}
