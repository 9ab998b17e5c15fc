"""Publishing to RabbitMQ awaits the broker's confirms, per batch (``orchestrator.amqp_confirms``).

A queue capped by a policy (``reject-publish``) makes RabbitMQ refuse what goes past the cap: the
broker's own refusal, not a fake one.
"""

from __future__ import annotations

import uuid

import pytest

from orchestrator import broker, keys
from orchestrator.errors import PublishError
from scheduling.ops.queues import queue_depths
from tests import brokers


def _messages(count: int, queue: str) -> list[broker.RunMessage]:
    return [
        broker.RunMessage(
            run_id=uuid.uuid4(),
            attempt=1,
            queue=queue,
            task_id=str(uuid.uuid4()),
            timeout_seconds=60,
            label="t",
            job_key="noop",
        )
        for _ in range(count)
    ]


def test_a_batch_is_published_once_the_broker_confirmed_every_message(rabbitmq_url, redis_db):
    queue = f"confirmed-{uuid.uuid4().hex[:8]}"
    with brokers.celery_broker(rabbitmq_url):
        sent = _messages(600, queue)  # more than one acknowledgement: RabbitMQ confirms in groups
        broker.publish(sent)
        assert queue_depths([queue]) == {queue: 600}
    assert all(score is not None for score in redis_db.zmscore(keys.INFLIGHT, [str(m.run_id) for m in sent]))


def test_a_batch_the_broker_refuses_in_part_fails_as_a_whole(rabbitmq_url, redis_db):
    queue = f"capped-{uuid.uuid4().hex[:8]}"
    brokers.rabbitmq_queue_policy(rabbitmq_url, queue, queue, '{"max-length": 2, "overflow": "reject-publish"}')
    with brokers.celery_broker(rabbitmq_url):
        refused = _messages(5, queue)
        with pytest.raises(PublishError) as raised:
            broker.publish(refused)
        assert "refused 3 of 5" in str(raised.value)
        assert queue_depths([queue]) == {queue: 2}, "the two the broker took stay: recovery publishes them again"
    assert redis_db.zmscore(keys.INFLIGHT, [str(m.run_id) for m in refused]) == [None] * 5, "none noted in flight"
