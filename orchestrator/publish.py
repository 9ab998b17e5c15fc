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
#: Seconds a job may use after its soft time limit (cleanup) before the hard limit kills it.
HARD_LIMIT_MARGIN_SECONDS = 30
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
    from project.celery import app

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
                        soft_time_limit=message.timeout_seconds,
                        time_limit=message.timeout_seconds + HARD_LIMIT_MARGIN_SECONDS,
                        countdown=message.countdown,
                        retry=False,
                    )
    except Exception as exc:  # the broker's and the driver's errors differ by transport
        raise PublishError([str(m.run_id) for m in messages], f"{type(exc).__name__}: {exc}") from exc
