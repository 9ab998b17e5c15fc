"""The lease scripts against a real Redis: all-or-nothing, expiry, waiting room, renewal."""

from __future__ import annotations

import time

from orchestrator.keys import INFLIGHT, lease_key, limit_key, waiting_key
from workers.leases import Freed, Leases, Limit

JOB = Limit(scope="job:demo", capacity=2, label="job demo max_concurrency=2")
GLOBAL = Limit(scope="global", capacity=3, label="SCHEDULER_MAX_GLOBAL_RUNS=3")


def test_slots_are_taken_all_or_nothing(redis_db):
    leases = Leases(redis_db)
    assert leases.acquire("a", [JOB, GLOBAL], ttl_seconds=30).granted
    assert leases.acquire("b", [JOB, GLOBAL], ttl_seconds=30).granted
    blocked = leases.acquire("c", [JOB, GLOBAL], ttl_seconds=30)
    assert not blocked.granted and blocked.blocked_by == JOB and blocked.in_use == 2
    assert redis_db.zcard(limit_key("global")) == 2, "a blocked run takes no slot anywhere"
    assert leases.acquire("d", [GLOBAL], ttl_seconds=30).granted
    assert not leases.acquire("e", [GLOBAL], ttl_seconds=30).granted
    assert leases.slots_in_use() == {"job:demo": 2, "global": 3}


def test_acquiring_again_is_idempotent_and_deletes_the_in_flight_note(redis_db):
    leases = Leases(redis_db)
    redis_db.zadd(INFLIGHT, {"a": 1})
    assert leases.acquire("a", [JOB], ttl_seconds=30).granted
    assert leases.acquire("a", [JOB], ttl_seconds=30).granted
    assert redis_db.zcard(limit_key("job:demo")) == 1
    assert redis_db.zscore(INFLIGHT, "a") is None


def test_a_crashed_holders_slot_expires_by_itself(redis_db):
    leases = Leases(redis_db)
    assert leases.acquire("crashed-1", [JOB], ttl_seconds=0.3).granted
    assert leases.acquire("crashed-2", [JOB], ttl_seconds=0.3).granted
    assert not leases.acquire("next", [JOB], ttl_seconds=30).granted
    time.sleep(0.4)  # nobody renews
    assert leases.acquire("next", [JOB], ttl_seconds=30).granted
    assert leases.alive(["crashed-1", "crashed-2", "next"]) == {"next"}


def test_waiters_are_woken_oldest_first_and_leave_the_room_when_they_start(redis_db):
    leases = Leases(redis_db)
    for holder in ("a", "b"):
        leases.acquire(holder, [JOB], ttl_seconds=30)
    for waiter in ("w1", "w2", "w3"):
        assert not leases.acquire(waiter, [JOB], ttl_seconds=30).granted
        time.sleep(0.002)
    assert leases.acquire("w1", [JOB], ttl_seconds=30).granted is False  # still full; keeps its place
    assert leases.release("a") == ["job:demo"]
    assert leases.release("a") == [], "releasing twice frees nothing"
    assert leases.wake("job:demo") == ["w1"]
    assert leases.acquire("w2", [JOB], ttl_seconds=30).granted
    assert [m.decode() for m in redis_db.zrange(waiting_key("job:demo"), 0, -1)] == ["w3"]


def test_renewal_extends_and_restores_a_lost_lease(redis_db):
    leases = Leases(redis_db)
    leases.acquire("a", [JOB], ttl_seconds=1)
    assert leases.renew("a", [JOB], ttl_seconds=30) is True
    assert redis_db.pttl(lease_key("a")) > 20_000
    redis_db.flushdb()  # Redis lost its data while the run was still running
    assert leases.renew("a", [JOB], ttl_seconds=30) is False
    assert leases.alive(["a"]) == {"a"} and redis_db.zcard(limit_key("job:demo")) == 1


def test_a_release_takes_the_longest_waiter_of_each_freed_scope_in_the_same_call(redis_db):
    leases = Leases(redis_db)
    wide = Limit(scope="global", capacity=5, label="SCHEDULER_MAX_GLOBAL_RUNS=5")
    for holder in ("a", "b"):
        assert leases.acquire(holder, [JOB, wide], ttl_seconds=30).granted
    for waiter in ("w1", "w2"):
        assert not leases.acquire(waiter, [JOB, wide], ttl_seconds=30).granted
        time.sleep(0.002)
    # the job's room had waiters, the global one none: nobody to wake there, no further round trip
    assert leases.release_and_wake("a") == [Freed(scope="job:demo", woken="w1"), Freed(scope="global", woken=None)]
    assert [m.decode() for m in redis_db.zrange(waiting_key("job:demo"), 0, -1)] == ["w2"]
    assert leases.alive(["a", "b"]) == {"b"} and redis_db.zcard(limit_key("global")) == 1
    assert leases.release_and_wake("a") == [], "releasing twice frees nothing and wakes nobody"
