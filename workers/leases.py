"""Concurrency limits that hold across every worker process on every host: leases in Redis.

Each limit scope (``global``, ``job:<key>``, ``schedule:<id>``) is a sorted set
``ostinato:limit:<scope>`` of run ids scored by lease expiry (epoch milliseconds, Redis's own
clock, so hosts' clocks never matter). A run takes all the slots that apply to it in one Lua
call, all or nothing; a heartbeat thread renews them while the job runs; they are released when
it ends. A worker killed with SIGKILL renews nothing: its slots expire by themselves after the TTL.

``ostinato:lease:<run id>`` lists the scopes a running run holds and doubles as its heartbeat:
the reaper treats a ``running`` run without one as lost. A run that finds a scope full is added
to ``ostinato:waiting:<scope>`` (in the same call), and a release wakes the oldest waiter.

A run to which no limit applies takes nothing at its start and releases nothing at its end: no
Redis round trip on its path. Its process's ``Renewer`` writes its heartbeat at its next round
(within a third of the TTL) and forgets its in-flight note then. The reaper only looks at runs
started more than a TTL ago, so such a run has its heartbeat before the reaper can ask for it,
with the same margin as any renewal; a run that ends before that round never needs one.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import redis

from orchestrator.publish import INFLIGHT_KEY
from project.redis import client as redis_client

logger = logging.getLogger(__name__)

PREFIX = "ostinato"


def limit_key(scope: str) -> str:
    return f"{PREFIX}:limit:{scope}"


def waiting_key(scope: str) -> str:
    return f"{PREFIX}:waiting:{scope}"


def lease_key(run_id: uuid.UUID | str) -> str:
    return f"{PREFIX}:lease:{run_id}"


def _scope_of(key: str) -> str:
    return key.removeprefix(f"{PREFIX}:limit:")


@dataclass(frozen=True, kw_only=True)
class Limit:
    scope: str
    capacity: int
    label: str


@dataclass(frozen=True, kw_only=True)
class Acquired:
    granted: bool
    blocked_by: Limit | None = None
    in_use: int = 0


_NOW_MS = "local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)"

# KEYS: lease key, in-flight notes, then n limit keys, then n waiting keys. ARGV: run id, ttl ms, n capacities.
# The message was delivered: its in-flight note goes, whether the run starts or waits.
_ACQUIRE = (
    _NOW_MS
    + """
local run = ARGV[1]
local ttl = tonumber(ARGV[2])
local n = (#KEYS - 2) / 2
redis.call('ZREM', KEYS[2], run)
for i = 1, n do
  local key = KEYS[2 + i]
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  if not redis.call('ZSCORE', key, run) then
    local used = redis.call('ZCARD', key)
    if used >= tonumber(ARGV[2 + i]) then
      redis.call('ZADD', KEYS[2 + n + i], 'NX', now, run)
      return {0, i, used}
    end
  end
end
local held = {}
for i = 1, n do
  redis.call('ZADD', KEYS[2 + i], now + ttl, run)
  redis.call('ZREM', KEYS[2 + n + i], run)
  held[i] = KEYS[2 + i]
end
redis.call('SET', KEYS[1], table.concat(held, '\\n'), 'PX', ttl)
return {1, 0, 0}
"""
)

# KEYS: lease key, then the limit keys held. ARGV: run id, ttl ms. Also restores a lease lost with Redis's data.
_RENEW = (
    _NOW_MS
    + """
local held = {}
for i = 2, #KEYS do
  redis.call('ZADD', KEYS[i], now + tonumber(ARGV[2]), ARGV[1])
  held[i - 1] = KEYS[i]
end
local existed = redis.call('EXISTS', KEYS[1])
redis.call('SET', KEYS[1], table.concat(held, '\\n'), 'PX', tonumber(ARGV[2]))
return existed
"""
)

# KEYS: lease key. ARGV: run id, the limit key prefix, the waiting key prefix, '1' to wake.
# Frees the run's slots and heartbeat; returns, for each scope a slot was freed in, its limit key
# and (when waking) its longest waiter taken out of the waiting room, else ''.
_RELEASE_AND_WAKE = """
local value = redis.call('GET', KEYS[1])
redis.call('DEL', KEYS[1])
local out = {}
if value then
  for key in string.gmatch(value, '[^\\n]+') do
    if redis.call('ZREM', key, ARGV[1]) == 1 then
      local woken = ''
      if ARGV[4] == '1' then
        woken = redis.call('ZPOPMIN', ARGV[3] .. string.sub(key, #ARGV[2] + 1))[1] or ''
      end
      table.insert(out, key)
      table.insert(out, woken)
    end
  end
end
return out
"""


# KEYS: the in-flight notes. ARGV: run id and the newest note score (ms) to forget, in pairs.
# A note scored later was written for a later publish of the run (a retry): it stays.
_FORGET_NOTES = """
local forgotten = 0
for i = 1, #ARGV, 2 do
  local score = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if score and tonumber(score) <= tonumber(ARGV[i + 1]) then
    forgotten = forgotten + redis.call('ZREM', KEYS[1], ARGV[i])
  end
end
return forgotten
"""


@dataclass(frozen=True, kw_only=True)
class Freed:
    """A slot freed in ``scope``, and the run taken out of its waiting room for it (None: nobody waited)."""

    scope: str
    woken: str | None


def _pairs(notes: Mapping[str, int]) -> list[str | int]:
    return [item for run_id, score in notes.items() for item in (run_id, int(score))]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class Leases:
    """The lease operations, each one round trip to Redis."""

    def __init__(self, client: redis.Redis | None = None) -> None:
        self.client = client or redis_client()
        self._acquire = self.client.register_script(_ACQUIRE)
        self._renew = self.client.register_script(_RENEW)
        self._release_and_wake = self.client.register_script(_RELEASE_AND_WAKE)
        self._forget_notes = self.client.register_script(_FORGET_NOTES)

    def acquire(self, run_id: uuid.UUID | str, limits: Sequence[Limit], *, ttl_seconds: float) -> Acquired:
        """Take a slot in every limit at once, or none; when one is full, join its waiting room."""
        keys = [
            lease_key(run_id),
            INFLIGHT_KEY,
            *(limit_key(lim.scope) for lim in limits),
            *(waiting_key(lim.scope) for lim in limits),
        ]
        granted, index, used = self._acquire(
            keys=keys, args=[str(run_id), int(ttl_seconds * 1000), *(lim.capacity for lim in limits)]
        )
        if granted:
            return Acquired(granted=True)
        return Acquired(granted=False, blocked_by=limits[int(index) - 1], in_use=int(used))

    def renew(self, run_id: uuid.UUID | str, limits: Sequence[Limit], *, ttl_seconds: float) -> bool:
        """Extend the run's slots and heartbeat; False when they had expired (and were restored)."""
        keys = [lease_key(run_id), *(limit_key(lim.scope) for lim in limits)]
        return bool(self._renew(keys=keys, args=[str(run_id), int(ttl_seconds * 1000)]))

    def renew_many(
        self, held: Sequence[tuple[str, Sequence[Limit], float]], *, notes: Mapping[str, int] | None = None
    ) -> list[str]:
        """``renew`` for many runs in one pipelined round trip; returns the run ids whose leases were not there.

        A run's first renewal writes its lease when it was taken without ``acquire`` (no limit
        applies). ``notes`` (run id -> newest note score) are forgotten in the same round trip,
        see ``forget_notes``.
        """
        if not held and not notes:
            return []
        with self.client.pipeline(transaction=False) as pipe:
            for run_id, limits, ttl_seconds in held:
                keys = [lease_key(run_id), *(limit_key(lim.scope) for lim in limits)]
                self._renew(keys=keys, args=[str(run_id), int(ttl_seconds * 1000)], client=pipe)
            if notes:
                self._forget_notes(keys=[INFLIGHT_KEY], args=_pairs(notes), client=pipe)
            existed = pipe.execute()
        return [run_id for (run_id, _, _), ok in zip(held, existed, strict=False) if not ok]

    def forget_notes(self, notes: Mapping[str, int]) -> int:
        """Remove the in-flight notes of delivered messages: run id -> the newest note score (ms) to remove.

        A note scored later belongs to a later publish of the same run (its retry) and stays.
        Returns how many were removed.
        """
        if not notes:
            return 0
        return int(self._forget_notes(keys=[INFLIGHT_KEY], args=_pairs(notes)))

    def release(self, run_id: uuid.UUID | str) -> list[str]:
        """Free the run's slots and heartbeat; returns the scopes a slot was freed in (idempotent)."""
        return [freed.scope for freed in self._free(run_id, wake=False)]

    def release_and_wake(self, run_id: uuid.UUID | str) -> list[Freed]:
        """``release``, and in the same round trip take the longest waiter of each scope a slot was freed in.

        Most releases free a slot nobody waits for: the caller then needs no further round trip.
        """
        return self._free(run_id, wake=True)

    def _free(self, run_id: uuid.UUID | str, *, wake: bool) -> list[Freed]:
        args = [str(run_id), limit_key(""), waiting_key(""), "1" if wake else "0"]
        flat = self._release_and_wake(keys=[lease_key(run_id)], args=args)
        return [
            Freed(scope=_scope_of(_text(key)), woken=_text(woken) or None)
            for key, woken in zip(flat[::2], flat[1::2], strict=True)
        ]

    def wake(self, scope: str, count: int = 1) -> list[str]:
        """Take the ``count`` longest-waiting run ids of ``scope`` out of its waiting room."""
        popped: list[tuple[bytes | str, float]] = self.client.zpopmin(waiting_key(scope), count)  # type: ignore[assignment]
        return [item[0].decode() if isinstance(item[0], bytes) else str(item[0]) for item in popped]

    def alive(self, run_ids: Iterable[uuid.UUID | str]) -> set[str]:
        """The run ids whose heartbeat has not expired."""
        ids = [str(run_id) for run_id in run_ids]
        if not ids:
            return set()
        with self.client.pipeline(transaction=False) as pipe:
            for run_id in ids:
                pipe.exists(lease_key(run_id))
            found = pipe.execute()
        return {run_id for run_id, exists in zip(ids, found, strict=True) if exists}

    def slots_in_use(self) -> dict[str, int]:
        """Unexpired leases per scope (``global``, ``job:<key>``, ``schedule:<id>``)."""
        now_ms = int(self.client.time()[0]) * 1000
        counts: dict[str, int] = {}
        for key in self.client.scan_iter(match=f"{PREFIX}:limit:*", count=500):
            name = key.decode() if isinstance(key, bytes) else str(key)
            counts[_scope_of(name)] = int(self.client.zcount(name, now_ms, "+inf"))
        return counts


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
