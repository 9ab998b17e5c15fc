"""The beat loop, shared by ``celery beat`` (``scheduling.engine.beat.Scheduler``) and ``manage.py scheduler``.

``Dispatcher.tick()`` is the one place that reads the clock. With nothing due it costs one
indexed query (the earliest ``due_at``) and returns how long to sleep: until the next schedule
falls due, capped at ``SCHEDULER_TICK_SECONDS`` so an edit is seen within that time.

In a burst (the last tick claimed a full batch) on PostgreSQL, a cycle dispatches two batches at
once, one on a helper thread with its own connection: two beats in one process, sharing the due
rows through ``SKIP LOCKED``. Each batch is written, committed and published in its own thread,
so one batch's waits on the database and on Redis overlap the other's Python work; a cycle
returns only when both are done, so nothing is left half-published between cycles.

A burst announced ahead (at least ``SCHEDULER_BATCH_SIZE`` schedules due at one moment, within
``SCHEDULER_PREPARE_AHEAD_SECONDS``) is prepared before it, on PostgreSQL: a thread of its own
claims up to ``SCHEDULER_PREPARE_MAX`` of them, plans their occurrences for that moment and
writes them, then holds the transaction open and commits and publishes at the moment. Nothing is
visible or published early; the work that made the last of ten thousand schedules due at one
instant wait a second or two is done before the instant. Meanwhile the loop goes on as usual, and
the rows the preparation holds are skipped by every claim (``SKIP LOCKED``) until it commits. An
edit of a held schedule waits for that commit, and a schedule whose overlap decision depends on
runs that may end before the moment is left for the tick at the moment.
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import IO

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connection
from django.utils import timezone

from orchestrator.errors import SchedulerError
from scheduling.engine import dispatch, store
from scheduling.engine.maintenance import maintain
from scheduling.engine.reports import Cycle, TickReport

logger = logging.getLogger(__name__)

#: Sleep after a tick that found due rows locked by another beat.
CONTENDED_SLEEP_SECONDS = 0.05
#: Sleep after a database error before trying again.
ERROR_SLEEP_SECONDS = 1.0


#: Called after every cycle with the cycle and its duration in seconds (e.g. the beat heartbeat).
CycleHook = Callable[[Cycle, float], None]


class Dispatcher:
    def __init__(
        self,
        *,
        clock: Callable[[], datetime] = timezone.now,
        on_cycle: CycleHook | None = None,
        prepare: bool = True,
    ) -> None:
        """``prepare=False``: never prepare a burst ahead (a single pass, as ``scheduler --once``)."""
        self._clock = clock
        self._prepare = prepare
        self._last_maintenance: float | None = None
        self._on_cycle = on_cycle
        self._helper: ThreadPoolExecutor | None = None
        self._bursting = False
        self._preparer: ThreadPoolExecutor | None = None
        self._preparing: Future[TickReport] | None = None
        self._prepared_for: datetime | None = None

    def cycle(self, *, force_maintenance: bool = False) -> Cycle:
        started = time.monotonic()
        done = self._cycle(force_maintenance=force_maintenance)
        if self._on_cycle is not None:
            self._on_cycle(done, time.monotonic() - started)
        return done

    def _cycle(self, *, force_maintenance: bool) -> Cycle:
        now = self._clock()
        cap = float(settings.SCHEDULER_TICK_SECONDS)
        try:
            earliest = store.earliest_due_at()
            report = None
            sleep = cap
            if earliest is not None and earliest <= now:
                report, claimed = self._dispatch(now)
                report.finished_at = self._clock()
                self._bursting = claimed >= settings.SCHEDULER_BATCH_SIZE
                if claimed >= settings.SCHEDULER_BATCH_SIZE:
                    sleep = 0.0  # more may be due right now
                elif claimed == 0:
                    sleep = CONTENDED_SLEEP_SECONDS  # due rows were locked by another beat
                else:
                    sleep = 0.0  # look again: the next due time is unknown after a dispatch
            elif earliest is not None:
                wait = (earliest - now).total_seconds()
                self._maybe_prepare(earliest, wait)
                sleep = min(cap, max(0.0, wait))
            prepared = self._collect_prepared()
            if prepared is not None:
                report = prepared if report is None else _combined(report, prepared)
            maintenance = None
            if force_maintenance or self._maintenance_due():
                maintenance = maintain(now)
                self._last_maintenance = time.monotonic()
            return Cycle(tick=report, maintenance=maintenance, sleep_seconds=sleep)
        except (OperationalError, InterfaceError) as exc:
            logger.error("database unavailable (%s); retrying in %.0fs", exc, ERROR_SLEEP_SECONDS)
            connection.close()
            self._bursting = False
            return Cycle(tick=None, maintenance=None, sleep_seconds=ERROR_SLEEP_SECONDS)
        except DatabaseError:
            logger.exception("database error in the beat loop; retrying in %.0fs", ERROR_SLEEP_SECONDS)
            self._bursting = False
            return Cycle(tick=None, maintenance=None, sleep_seconds=ERROR_SLEEP_SECONDS)

    def _dispatch(self, now: datetime) -> tuple[TickReport, int]:
        """One batch; in a burst on PostgreSQL, two at once (this thread and the helper's).

        Returns the report and the larger batch claimed (a full one means more may be due).
        """
        if not (self._bursting and connection.vendor == "postgresql"):
            report = dispatch.dispatch_due(now)
            return report, report.claimed
        if self._helper is None:
            self._helper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="beat-helper")
        helping = self._helper.submit(_dispatch_in_thread, now)
        try:
            mine = dispatch.dispatch_due(now)
        finally:
            theirs = helping.result()  # never leave the helper's batch running past the cycle
        return _combined(mine, theirs), max(mine.claimed, theirs.claimed)

    def _maybe_prepare(self, moment: datetime, wait_seconds: float) -> None:
        """Start preparing the burst due at ``moment`` if there is one, none is being prepared, and it is close."""
        limit = int(settings.SCHEDULER_PREPARE_MAX)
        if (
            not self._prepare
            or limit <= 0
            or wait_seconds > float(settings.SCHEDULER_PREPARE_AHEAD_SECONDS)
            or self._preparing is not None
            or self._prepared_for == moment
            or connection.vendor != "postgresql"
        ):
            return
        self._prepared_for = moment  # once per moment: what it leaves is claimed when due
        if store.due_count(moment, settings.SCHEDULER_BATCH_SIZE) < settings.SCHEDULER_BATCH_SIZE:
            return
        if self._preparer is None:
            self._preparer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="beat-prepare")
        # held until the moment by the monotonic clock: the loop's clock may be a fixed one in tests
        until = time.monotonic() + max(0.0, wait_seconds)
        self._preparing = self._preparer.submit(_prepare_in_thread, moment, limit, until, self._clock)

    def _collect_prepared(self) -> TickReport | None:
        """The prepared burst's report once it has been committed and published (None before)."""
        preparing = self._preparing
        if preparing is None or not preparing.done():
            return None
        self._preparing = None
        try:
            return preparing.result()
        except DatabaseError:
            logger.exception("preparing a burst failed; its schedules are dispatched when due")
            return None

    def close(self) -> None:
        """Stop the helper threads (a prepared burst is committed and published first), closing their connections."""
        if self._preparer is not None:
            if self._preparing is not None:
                try:
                    self._preparing.result()
                except Exception:  # closing must go on: what it did not commit is dispatched when due
                    logger.exception("preparing a burst failed while the beat stopped")
                self._preparing = None
            _shut_down(self._preparer)
            self._preparer = None
        if self._helper is not None:
            _shut_down(self._helper)
            self._helper = None

    def tick(self) -> float:
        """One pass; returns the seconds to sleep (Celery beat's ``Scheduler.tick`` contract)."""
        return self.cycle().sleep_seconds

    def _maintenance_due(self) -> bool:
        last = self._last_maintenance
        return last is None or time.monotonic() - last >= float(settings.SCHEDULER_MAINTENANCE_SECONDS)


def _close_thread_connection() -> None:
    connection.close()  # ``connection`` is per thread: this is the helper's own


def _shut_down(executor: ThreadPoolExecutor) -> None:
    """Close the database connection of an executor's one thread, then stop the thread."""
    executor.submit(_close_thread_connection).result()
    executor.shutdown()


def _dispatch_in_thread(now: datetime) -> TickReport:
    try:
        return dispatch.dispatch_due(now)
    except (OperationalError, InterfaceError):
        connection.close()  # the helper's connection: its next batch opens a fresh one
        raise


def _prepare_in_thread(
    moment: datetime, limit: int, until_monotonic: float, clock: Callable[[], datetime]
) -> TickReport:
    def hold() -> float:
        time.sleep(max(0.0, until_monotonic - time.monotonic()))
        return until_monotonic

    try:
        report = dispatch.dispatch_due(moment, limit=limit, ahead=True, hold=hold)
    except (OperationalError, InterfaceError):
        connection.close()  # this thread's connection: the next preparation opens a fresh one
        raise
    report.finished_at = clock()
    return report


def _combined(first: TickReport, second: TickReport) -> TickReport:
    """One report for the batches a cycle collected (its own, the helper's, a prepared burst)."""
    finished = [r.finished_at for r in (first, second) if r.finished_at is not None]
    published = [r.published_at for r in (first, second) if r.published_at is not None]
    return TickReport(
        started_at=first.started_at,
        claimed=first.claimed + second.claimed,
        handled=first.handled + second.handled,
        published=first.published + second.published,
        unpublished=first.unpublished | second.unpublished,
        conflicts=first.conflicts + second.conflicts,
        deferred=first.deferred + second.deferred,
        errors=first.errors + second.errors,
        finished_at=max(finished) if finished else None,
        published_at=max(published) if published else None,
    )


class SingleBeatLock:
    """On SQLite, only one beat may dispatch: an exclusive lock file next to the database.

    Several beats need PostgreSQL (``SELECT ... FOR UPDATE SKIP LOCKED``). The lock is released
    by the operating system when the process dies, however it dies.
    """

    def __init__(self) -> None:
        self._handle: IO[str] | None = None

    def acquire(self) -> None:
        if connection.vendor != "sqlite":
            return
        database = Path(str(connection.settings_dict["NAME"]))
        path = database.with_name(database.name + ".beat.lock")
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a+")  # noqa: SIM115 (held open: the lock lives as long as the file)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise SchedulerError(
                f"another beat (pid {holder}) is already dispatching from the SQLite database {database}; "
                "several beats need PostgreSQL: set DATABASE_URL=postgres://..."
            ) from None
        handle.truncate(0)
        handle.write(str(os.getpid()))
        handle.flush()
        self._handle = handle

    def release(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None
