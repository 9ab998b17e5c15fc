"""The per-process lease renewer against a real Redis: renews every held lease, stops at drop, dies with its process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

from orchestrator.keys import INFLIGHT, limit_key
from tests.processes import ROOT, wait_until
from workers.leases import Freed, Leases, Limit
from workers.renewer import Heartbeat, Renewer

JOB = Limit(scope="job:demo", capacity=5, label="job demo max_concurrency=5")


def renewer_threads() -> int:
    return sum(1 for thread in threading.enumerate() if thread.name == "lease-renewer")


def test_one_thread_renews_every_held_lease_until_it_is_dropped(redis_db):
    leases = Leases(redis_db)
    renewer = Renewer(leases, period_seconds=0.2)
    before = renewer_threads()
    try:
        for run_id in ("a", "b"):
            assert leases.acquire(run_id, [JOB], ttl_seconds=0.6).granted
            renewer.hold(run_id, [JOB], ttl_seconds=0.6)
        assert renewer_threads() == before + 1, "one thread for the process, not one per run"
        time.sleep(1.5)  # more than twice the TTL: only renewal keeps them
        assert leases.alive(["a", "b"]) == {"a", "b"}
        assert redis_db.zcard(limit_key("job:demo")) == 2

        renewer.drop("a")
        assert leases.release("a") == ["job:demo"]
        time.sleep(0.8)  # rounds after the release must not take the slot back
        assert leases.alive(["a", "b"]) == {"b"}
        assert [m.decode() for m in redis_db.zrange(limit_key("job:demo"), 0, -1)] == ["b"]
        assert renewer.held() == ["b"]
    finally:
        renewer.close()


def test_a_heartbeat_holds_while_the_run_runs_and_releases_after(redis_db):
    leases = Leases(redis_db)
    renewer = Renewer(leases, period_seconds=0.2)
    try:
        assert leases.acquire("r", [JOB], ttl_seconds=0.6).granted
        with Heartbeat(renewer, "r", [JOB], ttl_seconds=0.6) as heartbeat:
            assert renewer.held() == ["r"]
            time.sleep(1.2)
            assert leases.alive(["r"]) == {"r"}
        assert heartbeat.freed == [Freed(scope="job:demo", woken=None)]
        assert renewer.held() == [] and leases.alive(["r"]) == set()
        assert redis_db.zcard(limit_key("job:demo")) == 0
    finally:
        renewer.close()


def test_a_killed_processs_leases_expire_by_themselves(redis_db):
    kwargs = redis_db.connection_pool.connection_kwargs
    url = f"redis://{kwargs.get('host', '127.0.0.1')}:{kwargs.get('port', 6379)}/{kwargs.get('db', 0)}"
    script = textwrap.dedent(
        f"""
        import time, redis
        from workers.leases import Leases, Limit
        from workers.renewer import Renewer
        leases = Leases(redis.Redis.from_url({url!r}))
        job = Limit(scope="job:demo", capacity=5, label="x")
        renewer = Renewer(leases, period_seconds=0.2)
        for run_id in ("k1", "k2"):
            leases.acquire(run_id, [job], ttl_seconds=0.6)
            renewer.hold(run_id, [job], ttl_seconds=0.6)
        print("held", flush=True)
        time.sleep(60)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        leases = Leases(redis_db)
        time.sleep(1.5)
        assert leases.alive(["k1", "k2"]) == {"k1", "k2"}, "renewed while the process lives"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        wait_until(lambda: not leases.alive(["k1", "k2"]), timeout=5, message="the killed process's leases to expire")
        wait_until(lambda: leases.slots_in_use().get("job:demo", 0) == 0, timeout=5, message="their slots to free")
        assert leases.acquire("next", [Limit(scope="job:demo", capacity=1, label="one")], ttl_seconds=30).granted
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def test_a_run_without_limits_gets_its_heartbeat_from_the_next_round(redis_db, caplog):
    leases = Leases(redis_db)
    renewer = Renewer(leases, period_seconds=0.2)
    try:
        with Heartbeat(renewer, "u", [], ttl_seconds=0.6, leased=False) as heartbeat:
            assert leases.alive(["u"]) == set(), "nothing taken at the start: no round trip"
            wait_until(lambda: leases.alive(["u"]) == {"u"}, timeout=2, message="the first round to write the lease")
            time.sleep(1.2)  # twice the TTL: renewed like any lease
            assert leases.alive(["u"]) == {"u"}
        assert heartbeat.freed == [] and leases.alive(["u"]) == set(), "released at the end once written"
        assert "restored" not in caplog.text, "a first lease is not an expired one"
    finally:
        renewer.close()


def test_a_run_without_limits_that_ends_before_a_round_touches_no_lease(redis_db):
    leases = Leases(redis_db)
    renewer = Renewer(leases, period_seconds=0.5)
    try:
        with Heartbeat(renewer, "quick", [], ttl_seconds=1.5, leased=False):
            pass
        time.sleep(0.8)  # a round after the end must not write it
        assert leases.alive(["quick"]) == set() and renewer.held() == []
    finally:
        renewer.close()


def test_the_next_round_forgets_in_flight_notes_written_before_the_take(redis_db):
    leases = Leases(redis_db)
    renewer = Renewer(leases, period_seconds=0.2)
    redis_db.zadd(INFLIGHT, {"taken": 1_000, "republished": 5_000, "other": 1_000})
    try:
        renewer.forget_note("taken", newest_score_ms=2_000)
        renewer.forget_note("republished", newest_score_ms=2_000)  # its retry was published since
        assert redis_db.zcard(INFLIGHT) == 3, "not in the run's path: at the next round"
        wait_until(lambda: redis_db.zscore(INFLIGHT, "taken") is None, timeout=2, message="the note to go")
        assert redis_db.zscore(INFLIGHT, "republished") == 5_000
        assert redis_db.zscore(INFLIGHT, "other") == 1_000
    finally:
        renewer.close()
    assert leases.forget_notes({"other": 1_000, "absent": 9_000}) == 1
