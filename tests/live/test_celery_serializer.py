"""Celery speaks JSON only: a pickle-serialized message sent to a real worker's queue is refused
and never deserialized (its payload would create a folder when unpickled), and the worker keeps
running runs afterwards.
"""

from __future__ import annotations

import os
from pathlib import Path

from orchestrator.broker import RUN_TASK_NAME
from project.celery import app
from scheduling.surfaces.actions import run_now
from tests import factories
from tests.helpers import wait_finished, wait_ready
from tests.processes import wait_until


class Booby:
    """Unpickling this calls ``os.mkdir(marker)``: the folder's existence proves deserialization."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


def test_a_pickle_message_is_refused_by_a_real_worker_and_never_unpickled(live, tmp_path: Path):
    marker = tmp_path / "unpickled"
    worker = live.worker(concurrency=1)
    wait_ready(worker)

    app.send_task(RUN_TASK_NAME, args=[Booby(marker)], serializer="pickle", queue="default")
    wait_until(
        lambda: "Refusing to deserialize untrusted content of type pickle" in worker.output(),
        timeout=30,
        message="the worker to refuse the pickle message",
    )
    assert not marker.exists(), "the worker unpickled the message"

    run = wait_finished(run_now(factories.schedule("noop", kind="cron", cron="0 3 1 1 *")))
    assert run.status == "succeeded", "the worker still runs JSON messages after refusing one"
    assert worker.alive()
    assert not marker.exists()
