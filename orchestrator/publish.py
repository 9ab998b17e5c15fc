"""Publishing run messages to the broker, by task name, in one pipelined batch.

Nothing imports ``workers``: the run task is addressed by ``RUN_TASK_NAME`` through
``project.celery.app``. Callers publish only after the runs are committed, and a failed batch
leaves the runs ``pending`` for the recovery step; the worker's compare-and-set on
``(run, attempt)`` makes a duplicate delivery harmless.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from orchestrator.errors import PublishError

logger = logging.getLogger(__name__)

RUN_TASK_NAME = "workers.run"
#: Redis commands buffered per pipeline round trip.
PIPELINE_SIZE = 500


@dataclass(frozen=True, kw_only=True)
class RunMessage:
    run_id: uuid.UUID
    attempt: int
    queue: str
    task_id: str
    timeout_seconds: int
    label: str
    countdown: float | None = None


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
    try:
        with app.producer_or_acquire() as producer:
            batch = producer.batch(max_size=PIPELINE_SIZE) if producer.supports_batch_publish else None
            with batch or contextlib.nullcontext():
                for message in messages:
                    app.send_task(
                        RUN_TASK_NAME,
                        args=[str(message.run_id), message.attempt],
                        task_id=message.task_id,
                        queue=message.queue,
                        producer=producer,
                        argsrepr=message.label,
                        kwargsrepr="{}",
                        # the name `celery inspect active|reserved|scheduled` and worker logs show
                        shadow=f"{RUN_TASK_NAME}{message.label}",
                        soft_time_limit=message.timeout_seconds,
                        time_limit=message.timeout_seconds + margin,  # type: ignore[arg-type]  # seconds
                        countdown=message.countdown,
                        retry=False,
                    )
    except Exception as exc:  # the broker's and the driver's errors differ by transport
        raise PublishError([str(m.run_id) for m in messages], f"{type(exc).__name__}: {exc}") from exc
    _mark_in_flight(messages)


def inflight_key(run_id: uuid.UUID | str) -> str:
    return f"ostinato:inflight:{run_id}"


def _mark_in_flight(messages: Sequence[RunMessage]) -> None:
    """Note beside each message that it is in the broker; the worker deletes the note when it takes the run.

    If Redis loses its data (a restart without persistence), messages and notes go together, and
    ``lost_messages`` finds the queued runs whose note is gone. Best effort: a missing note only
    means the run is published once more, which executes once.
    """
    from django.conf import settings

    from project.redis import client

    ttl = int(settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout", 3600))
    try:
        with client().pipeline(transaction=False) as pipe:
            for message in messages:
                pipe.set(inflight_key(message.run_id), message.attempt, ex=ttl)
            pipe.execute()
    except Exception as exc:  # Redis went away right after the publish
        logger.warning("could not note %d message(s) in flight: %s", len(messages), exc)


def lost_messages(run_ids: Sequence[uuid.UUID | str]) -> list[str]:
    """Of these queued runs, those whose message is no longer in the broker (its note is gone)."""
    from project.redis import client

    ids = [str(run_id) for run_id in run_ids]
    if not ids:
        return []
    with client().pipeline(transaction=False) as pipe:
        for run_id in ids:
            pipe.exists(inflight_key(run_id))
        present = pipe.execute()
    return [run_id for run_id, found in zip(ids, present, strict=True) if not found]
