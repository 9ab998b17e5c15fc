"""One thread per process keeps the leases of the runs it executes alive: ``Renewer`` and ``Heartbeat``.

See ``workers.leases`` for what a lease is. A run's ``Heartbeat`` holds its leases with the
process's ``Renewer`` while the job runs and releases them (waking a waiter) when it ends.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Sequence

import redis

from workers.leases import Freed, Leases, Limit

logger = logging.getLogger(__name__)


class Renewer:
    """One thread per process renews the leases of every run the process is executing.

    A thread per run cost more than the rest of a short run (its start and join, see
    docs/BENCHMARKS.md); one thread per process renews every held lease once per round, a round
    every third of the TTL, in one pipelined round trip. ``hold`` and ``drop`` take the lock a
    round holds: once ``drop`` returns, nothing renews the run's lease again, so a release after
    it is final (a renewal after the release would take the slots back until the TTL ran out).
    A forked child starts with nothing held and starts its own thread on first use; a killed
    process renews nothing, and its leases expire by themselves.

    A run held with ``leased=False`` (no limit applies, nothing was acquired) gets its lease from
    the next round, and the in-flight notes given to ``forget_note`` are removed in the same
    round trip: a short run costs no Redis round trip of its own. Notes not yet forgotten when a
    process ends (killed, or replaced) expire (``SCHEDULER_INFLIGHT_NOTE_SECONDS``); until then they
    do no harm, since only the notes of runs still ``queued`` are looked at.
    """

    def __init__(self, leases: Leases, *, period_seconds: float) -> None:
        self.leases = leases
        self._period = period_seconds
        self._reset()
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._held: dict[str, tuple[list[Limit], float]] = {}
        self._unleased: set[str] = set()  # held, but no round has written their lease yet
        self._notes: dict[str, int] = {}  # in-flight notes to forget at the next round
        self._thread: threading.Thread | None = None

    def hold(
        self, run_id: uuid.UUID | str, limits: Sequence[Limit], *, ttl_seconds: float, leased: bool = True
    ) -> None:
        """Renew ``run_id``'s leases until ``drop``: taken with ``Leases.acquire``, or (``leased=False``)
        written by the next round."""
        key = str(run_id)
        with self._lock:
            self._held[key] = (list(limits), ttl_seconds)
            if not leased:
                self._unleased.add(key)
            self._ensure_thread()

    def forget_note(self, run_id: uuid.UUID | str, *, newest_score_ms: int) -> None:
        """Remove ``run_id``'s in-flight note (if scored up to ``newest_score_ms``) at the next round."""
        with self._lock:
            self._notes[str(run_id)] = newest_score_ms
            self._ensure_thread()

    def drop(self, run_id: uuid.UUID | str) -> bool:
        """Stop renewing ``run_id``; waits for a round in progress to end.

        Returns whether the run's lease is in Redis (acquired, or written by a round): only then
        is there anything to release.
        """
        key = str(run_id)
        with self._lock:
            self._held.pop(key, None)
            if key in self._unleased:
                self._unleased.discard(key)
                return False
            return True

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="lease-renewer", daemon=True)
            self._thread.start()

    def held(self) -> list[str]:
        """The run ids renewed now."""
        with self._lock:
            return list(self._held)

    def close(self) -> None:
        """Stop the thread (renewing nothing more); the next ``hold`` starts a new one."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self._period + 5)

    def _loop(self) -> None:
        while not self._stop.wait(self._period):
            with self._lock:
                if self._held or self._notes:
                    self._round()

    def _round(self) -> None:
        held = [(run_id, limits, ttl) for run_id, (limits, ttl) in self._held.items()]
        notes, self._notes = self._notes, {}
        try:
            missing = self.leases.renew_many(held, notes=notes)
        except redis.RedisError as exc:
            logger.warning("could not renew the leases of %d run(s): %s", len(held), exc)
            self._notes = {**notes, **self._notes}  # forgotten at the next round instead
            return
        first, self._unleased = self._unleased, set()
        for run_id in missing:
            if run_id not in first:
                logger.warning("the leases of run %s had expired; restored them", run_id)


class Heartbeat:
    """A run's leases renewed by its process's ``Renewer`` while the run runs, released when it ends."""

    def __init__(
        self,
        renewer: Renewer,
        run_id: uuid.UUID | str,
        limits: Sequence[Limit],
        *,
        ttl_seconds: float,
        leased: bool = True,
    ) -> None:
        self._renewer = renewer
        self._run_id = run_id
        self._limits = list(limits)
        self._ttl = ttl_seconds
        self._leased = leased
        self.freed: list[Freed] = []

    def __enter__(self) -> Heartbeat:
        self._renewer.hold(self._run_id, self._limits, ttl_seconds=self._ttl, leased=self._leased)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if not self._renewer.drop(self._run_id):
            return  # no round wrote its lease (a run without limits that ended first): nothing to free
        try:
            self.freed = self._renewer.leases.release_and_wake(self._run_id)
        except redis.RedisError as exc:
            logger.warning("could not release the leases of run %s (they expire by themselves): %s", self._run_id, exc)
