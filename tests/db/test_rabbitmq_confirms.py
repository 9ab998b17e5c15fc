"""Publishing to RabbitMQ awaits the broker's confirms, per batch (``orchestrator.amqp_confirms``),
on classic queues and on quorum queues (``BROKER_QUEUE_TYPE=quorum``, docs/BROKERS.md).

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


def test_the_batch_after_a_refused_one_goes_out(rabbitmq_url, redis_db):
    """A refused batch leaves the process's pooled connection closed (kombu closes it on the way out):
    the next batch connects again instead of failing, and so does every one after it (the beat's next tick)."""
    capped = f"capped-{uuid.uuid4().hex[:8]}"
    brokers.rabbitmq_queue_policy(rabbitmq_url, capped, capped, '{"max-length": 1, "overflow": "reject-publish"}')
    queue = f"after-{uuid.uuid4().hex[:8]}"
    with brokers.celery_broker(rabbitmq_url):
        with pytest.raises(PublishError, match="refused 2 of 3"):
            broker.publish(_messages(3, capped))
        broker.publish(_messages(2, queue))
        broker.publish(_messages(1, queue))
        assert queue_depths([queue]) == {queue: 3}


def test_a_quorum_queue_is_declared_as_one_and_takes_confirmed_batches_whose_depth_is_read(rabbitmq_url, redis_db):
    """What our own path relies on with quorum queues: the publish declares the queue with its type (RabbitMQ drops
    what goes to a queue that does not exist), the broker confirms the batch, and the depth is read from it."""
    queue = f"quorum-{uuid.uuid4().hex[:8]}"
    with brokers.celery_broker(rabbitmq_url), brokers.queue_type("quorum"):
        sent = _messages(50, queue)
        broker.publish(sent)
        assert queue_depths([queue]) == {queue: 50}
    assert brokers.rabbitmq_queue_types(rabbitmq_url)[queue] == "quorum"
    assert all(score is not None for score in redis_db.zmscore(keys.INFLIGHT, [str(m.run_id) for m in sent]))


def test_a_classic_queue_stays_classic(rabbitmq_url, redis_db):
    """The other side of the quorum test: without ``BROKER_QUEUE_TYPE=quorum`` the queue is classic (so the
    quorum test's type comes from the setting, not from the broker's default)."""
    queue = f"classic-{uuid.uuid4().hex[:8]}"
    with brokers.celery_broker(rabbitmq_url):
        broker.publish(_messages(1, queue))
    assert brokers.rabbitmq_queue_types(rabbitmq_url)[queue] == "classic"
