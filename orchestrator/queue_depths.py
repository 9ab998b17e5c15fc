"""How many messages wait in each broker queue, asked of the broker itself (status page, metrics, recovery).

When the broker is our own Redis (``orchestrator.broker.broker_is_our_redis``) a queue is Redis
lists, read in one pipelined round trip: the queue's list plus kombu's priority lists. Any other
broker (RabbitMQ, or a Redis other than ours) is asked through kombu with a passive
``queue_declare``, whose reply carries the queue's ready message count (RabbitMQ does not count
the messages delivered to a worker and not yet acknowledged, like the Redis lists).
"""

from __future__ import annotations

from collections.abc import Iterable

from orchestrator import broker, connections

#: kombu's Redis transport keeps prioritised messages in extra lists named ``<queue>\x06\x16<priority>``.
_PRIORITY_SEP = "\x06\x16"
_PRIORITY_STEPS = (3, 6, 9)


def queue_depths(queues: Iterable[str]) -> dict[str, int]:
    """Messages waiting in each of ``queues`` (0 for a queue the broker does not have).

    Raises the Redis driver's or kombu's error when the broker does not answer.
    """
    names = sorted(set(queues))
    if not names:
        return {}
    if broker.broker_is_our_redis():
        return _redis_depths(names)
    return _broker_depths(names)


def _redis_depths(queues: list[str]) -> dict[str, int]:
    keys_per_queue = 1 + len(_PRIORITY_STEPS)
    with connections.redis_client().pipeline(transaction=False) as pipe:
        for queue in queues:
            for key in (queue, *(f"{queue}{_PRIORITY_SEP}{step}" for step in _PRIORITY_STEPS)):
                pipe.llen(key)
        lengths = [int(n) for n in pipe.execute()]
    return {
        queue: sum(lengths[index * keys_per_queue : (index + 1) * keys_per_queue]) for index, queue in enumerate(queues)
    }


def _broker_depths(queues: list[str]) -> dict[str, int]:
    """One connection, a passive declare per queue; a queue not declared yet counts 0.

    AMQP closes the channel on which a passive declare named a missing queue, so the next queue
    is asked on a new channel.
    """
    depths: dict[str, int] = {}
    with connections.celery_app().connection_for_read() as connection:
        channel = connection.channel()
        try:
            for queue in queues:
                try:
                    depths[queue] = int(channel.queue_declare(queue=queue, passive=True).message_count)
                except connection.channel_errors:
                    depths[queue] = 0
                    channel = connection.channel()
        finally:
            channel.close()
    return depths
