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
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import redis

from orchestrator.connections import redis_client
from orchestrator.keys import INFLIGHT, LIMIT_PREFIX, lease_key, limit_key, scope_of_limit_key, waiting_key

logger = logging.getLogger(__name__)


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
            INFLIGHT,
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
                self._forget_notes(keys=[INFLIGHT], args=_pairs(notes), client=pipe)
            existed = pipe.execute()
        return [run_id for (run_id, _, _), ok in zip(held, existed, strict=False) if not ok]

    def forget_notes(self, notes: Mapping[str, int]) -> int:
        """Remove the in-flight notes of delivered messages: run id -> the newest note score (ms) to remove.

        A note scored later belongs to a later publish of the same run (its retry) and stays.
        Returns how many were removed.
        """
        if not notes:
            return 0
        return int(self._forget_notes(keys=[INFLIGHT], args=_pairs(notes)))

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
            Freed(scope=scope_of_limit_key(_text(key)), woken=_text(woken) or None)
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
        for key in self.client.scan_iter(match=f"{LIMIT_PREFIX}*", count=500):
            name = key.decode() if isinstance(key, bytes) else str(key)
            counts[scope_of_limit_key(name)] = int(self.client.zcount(name, now_ms, "+inf"))
        return counts
