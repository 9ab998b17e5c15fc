"""Publishing run messages to the broker, by task name, in one pipelined batch.

Nothing imports ``workers``: the run task is addressed by ``RUN_TASK_NAME`` through
``project.celery.app``. Callers publish only after the runs are committed, and a failed batch
leaves the runs ``pending`` for the recovery step; the worker's compare-and-set on
``(run, attempt)`` makes a duplicate delivery harmless.

Messages are built with Celery's ``amqp.create_task_message`` and sent with
``amqp.send_task_message`` inside kombu's ``Producer.batch`` (one Redis pipeline per batch):
the same wire format as ``send_task``, without the per-call routing and option handling that
costs more than the publish itself when a beat sends thousands at once.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from orchestrator.errors import PublishError

logger = logging.getLogger(__name__)

RUN_TASK_NAME = "workers.run"
#: Redis commands buffered per pipeline round trip.
PIPELINE_SIZE = 500
#: Sorted set of run ids whose message is in the broker, scored by when the note expires (ms).
INFLIGHT_KEY = "ostinato:inflight"


@dataclass(frozen=True, kw_only=True, slots=True)
class RunMessage:
    run_id: uuid.UUID
    attempt: int
    queue: str
    task_id: str
    timeout_seconds: int
    label: str


def task_id_for(run_id: uuid.UUID | str, attempt: int) -> str:
    """The Celery task id of a run's attempt: stable, so re-publishing the same attempt reuses it."""
    return f"{run_id}" if attempt == 0 else f"{run_id}.{attempt}"


def publish(messages: Sequence[RunMessage]) -> None:
    """Send every message, pipelined; raises ``PublishError`` when the batch may not have gone out."""
    if not messages:
        return
    from django.conf import settings

    from project.celery import app

    margin = float(settings.SCHEDULER_HARD_TIMEOUT_MARGIN_SECONDS)
    amqp = app.amqp
    try:
        with app.producer_or_acquire() as producer:
            batch = producer.batch(max_size=PIPELINE_SIZE) if producer.supports_batch_publish else None
            with batch or contextlib.nullcontext():
                for message in messages:
                    # the name `celery inspect active|reserved|scheduled` and worker logs show
                    shadow = f"{RUN_TASK_NAME}{message.label}"
                    task_message = amqp.create_task_message(
                        message.task_id,
                        RUN_TASK_NAME,
                        [str(message.run_id), message.attempt],
                        {},
                        argsrepr=message.label,
                        kwargsrepr="{}",
                        shadow=shadow,
                        soft_time_limit=message.timeout_seconds,
                        time_limit=message.timeout_seconds + margin,
                        # the run's outcome is its row; without this header (which defaults to
                        # False here, unlike ``send_task``) the worker writes a result row per run
                        ignore_result=True,
                    )
                    amqp.send_task_message(
                        producer,
                        RUN_TASK_NAME,
                        task_message,
                        exchange="",
                        routing_key=message.queue,
                        queue=message.queue,
                        retry=False,
                        declare=[],  # the default exchange routes by queue name: nothing to declare
                    )
    except Exception as exc:  # the broker's and the driver's errors differ by transport
        raise PublishError([str(m.run_id) for m in messages], f"{type(exc).__name__}: {exc}") from exc
    _mark_in_flight(messages)


def _mark_in_flight(messages: Sequence[RunMessage]) -> None:
    """Note that these messages are in the broker; the worker removes a run's note when it takes it.

    If Redis loses its data (a restart without persistence), messages and notes go together, and
    ``lost_messages`` finds the queued runs whose note is gone. Best effort: a missing note only
    means the run is published once more, which executes once.
    """
    from django.conf import settings

    from project.redis import client

    ttl_ms = int(settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout", 3600)) * 1000
    expires = int(time.time() * 1000) + ttl_ms
    try:
        client().zadd(INFLIGHT_KEY, {str(message.run_id): expires for message in messages})
    except Exception as exc:  # Redis went away right after the publish
        logger.warning("could not note %d message(s) in flight: %s", len(messages), exc)


def lost_messages(run_ids: Sequence[uuid.UUID | str]) -> list[str]:
    """Of these queued runs, those whose message is no longer in the broker (its note is gone)."""
    from project.redis import client

    ids = [str(run_id) for run_id in run_ids]
    if not ids:
        return []
    redis = client()
    redis.zremrangebyscore(INFLIGHT_KEY, "-inf", int(time.time() * 1000))  # expired notes
    scores = redis.zmscore(INFLIGHT_KEY, ids)
    return [run_id for run_id, score in zip(ids, scores, strict=True) if score is None]
