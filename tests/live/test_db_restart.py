"""PostgreSQL restarted under running beats and workers (a private cluster: the shared one is never touched).

The test copies its migrated database into a private PostgreSQL cluster, points two beats and two
workers at it, crashes the server (``pg_ctl stop -m immediate``) while runs are in flight, keeps it
down for a few seconds and starts it again. No process is restarted. Counts come from the private
database and from the event log the workers write.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator

import psycopg
import pytest
from django.db import connection

from orchestrator import events
from tests import factories
from tests.helpers import wait_ready
from tests.private_pg import PrivateCluster
from tests.processes import wait_until

QUICK = {
    "SCHEDULER_MAINTENANCE_SECONDS": "0.5",
    "SCHEDULER_LOST_MESSAGE_SECONDS": "3",
    "SCHEDULER_LEASE_TTL_SECONDS": "5",
    "SCHEDULER_DB_PATIENCE_SECONDS": "60",
}
ACTIVE = ("pending", "queued", "running")


@pytest.fixture
def private_pg() -> Iterator[PrivateCluster]:
    cluster = PrivateCluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()


def source_url() -> str:
    s = connection.settings_dict
    return f"postgres://{s['USER']}@{s['HOST']}:{s['PORT']}/{s['NAME']}"


def query(url: str, sql: str) -> list[tuple]:
    with psycopg.connect(url, connect_timeout=3) as conn:
        return list(conn.execute(sql).fetchall())


def execute(url: str, sql: str) -> None:
    with psycopg.connect(url, connect_timeout=3) as conn:
        conn.execute(sql)


def count(url: str, sql: str) -> int:
    try:
        return int(query(url, sql)[0][0])
    except psycopg.Error:
        return -1  # the server is down or starting


def executions() -> Counter[str]:
    return Counter(e["run_id"] for e in events.iter_events() if e.get("event") == "run_started")


def finishes() -> Counter[str]:
    return Counter(e["run_id"] for e in events.iter_events() if e.get("event") == "run_finished")


@pytest.mark.timeout(300)
def test_postgresql_crash_and_restart_under_beats_and_workers(live, private_pg):
    # Runs of 2s every second (allow): several are always running when the server goes away.
    factories.schedule("sleep", name="slow", interval_seconds=1, overlap_policy="allow", params={"seconds": 2})
    factories.schedule("noop", name="fast", interval_seconds=1, overlap_policy="allow")
    private_pg.copy_database(source_url(), "ostinato")
    url = private_pg.url("ostinato")
    env = {**QUICK, "DATABASE_URL": url}
    workers = [live.worker(f"worker{i}", concurrency=3, env=env) for i in range(2)]
    beats = [live.beat(f"beat{i}", env=env) for i in range(2)]
    for proc in workers + beats:
        wait_ready(proc)

    wait_until(
        lambda: count(url, "SELECT count(*) FROM orchestrator_run WHERE status = 'succeeded'") >= 6,
        timeout=60,
        message="runs before the crash",
    )
    wait_until(
        lambda: count(url, "SELECT count(*) FROM orchestrator_run WHERE status = 'running'") >= 1,
        timeout=30,
        message="a run in flight",
    )
    in_flight = {row[0] for row in query(url, "SELECT id::text FROM orchestrator_run WHERE status = 'running'")}
    private_pg.stop("immediate")
    down = time.monotonic()
    time.sleep(8)
    private_pg.start()
    outage = time.monotonic() - down

    after = count(url, "SELECT count(*) FROM orchestrator_run")
    wait_until(
        lambda: count(url, "SELECT count(*) FROM orchestrator_run WHERE status = 'succeeded'") >= after + 6,
        timeout=90,
        message="runs after the restart",
    )
    execute(url, "UPDATE scheduling_schedule SET enabled = false")
    active = (
        "SELECT id::text, status, attempt, worker, error FROM orchestrator_run "
        "WHERE status IN ('pending', 'queued', 'running')"
    )
    try:
        wait_until(lambda: not query(url, active), timeout=90, message="every run to end")
    except AssertionError:
        print("\nstill active:", query(url, active))
        raise
    for proc in workers + beats:
        assert proc.alive(), f"{proc.name} died:\n{proc.tail()}"

    statuses = dict(query(url, "SELECT status, count(*) FROM orchestrator_run GROUP BY status"))
    runs = {row[0]: row[1] for row in query(url, "SELECT id::text, status FROM orchestrator_run")}
    duplicates = count(
        url,
        "SELECT count(*) FROM (SELECT schedule_id, scheduled_for FROM scheduling_scheduledrun "
        "GROUP BY 1, 2 HAVING count(*) > 1) AS d",
    )
    started, finished = executions(), finishes()
    started_twice = [run for run in runs if started[run] > 1]
    finished_twice = [run for run in runs if finished[run] > 1]
    in_flight_status = Counter(runs[run] for run in in_flight)
    waited = sum(proc.output().count("database unavailable to") for proc in workers)
    print(
        f"\nPostgreSQL crashed with {len(in_flight)} run(s) in flight, down {outage:.1f}s: {len(runs)} runs "
        f"{statuses}; in flight then: {dict(in_flight_status)}; duplicate occurrences {duplicates}, "
        f"executed twice {len(started_twice)}, recorded finished twice {len(finished_twice)}; "
        f"workers waited for the database {waited} time(s)"
    )
    assert waited >= 1, "a run in flight finished while the server was down and recorded its end later"
    assert duplicates == 0
    assert started_twice == [] and finished_twice == []
    assert set(statuses) == {"succeeded"}, "every run, the ones in flight during the crash too, succeeded"
    assert all(finished[run] == 1 for run in runs)
