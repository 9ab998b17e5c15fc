"""``celery -A project beat`` with schedules from the database (``CELERY_BEAT_SCHEDULER`` points here).

A thin adapter: Celery's ``Scheduler.tick()`` contract (do the due work, return the seconds to
sleep) maps onto ``scheduling.engine.loop.Dispatcher``. There are no in-memory entries to load, sync
or reload; any number of these may run at once against PostgreSQL. At start it sends
``hooks.beat_started``: the app's ``beat_schedule`` is synced into the database then
(``scheduling.surfaces.imports.beat_schedule``), where a failure is logged and the beat goes on.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import beat
from django.utils import timezone

from scheduling.engine import hooks
from scheduling.engine.heartbeat import BeatHeartbeat
from scheduling.engine.loop import Dispatcher, SingleBeatLock
from scheduling.engine.reports import BeatStarted

logger = logging.getLogger(__name__)


class Scheduler(beat.Scheduler):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._dispatcher: Dispatcher | None = None
        self._lock = SingleBeatLock()
        self._heartbeat: BeatHeartbeat | None = None
        super().__init__(*args, **kwargs)

    def setup_schedule(self) -> None:
        import django
        from django.apps import apps
        from django.conf import settings

        if not apps.ready:  # a second setup would re-point logging at Celery's redirected stderr: lines lost
            django.setup()
        self.max_interval = float(settings.SCHEDULER_TICK_SECONDS)  # type: ignore[assignment]  # seconds may be fractional
        self._lock.acquire()
        self._heartbeat = BeatHeartbeat()
        self._dispatcher = Dispatcher(on_cycle=self._heartbeat.on_cycle)
        hooks.beat_started.send(BeatStarted(app=self.app, now=timezone.now()))  # a failing subscriber is logged
        logger.info("beat dispatching from the database (tick cap %.2fs)", self.max_interval)

    def tick(self, *args: Any, **kwargs: Any) -> float:
        if self._dispatcher is None:
            self.setup_schedule()
        assert self._dispatcher is not None
        return self._dispatcher.tick()

    def sync(self) -> None:
        """Nothing to write back: every change is committed by the tick that made it."""

    def close(self) -> None:
        if self._dispatcher is not None:
            self._dispatcher.close()
        if self._heartbeat is not None:
            self._heartbeat.clear()
        self._lock.release()
        super().close()

    @property
    def info(self) -> str:
        from django.db import connection

        return f"    . database -> {connection.vendor} {connection.settings_dict.get('NAME')}"
