"""The demo's defaults: SQLite under var/ and the embedded Redis, with real beat and worker processes.

Nothing here uses PostgreSQL or the machine's Redis: the processes run with DATABASE_URL and
REDIS_URL unset and a var/ folder of the test's own, exactly like a fresh checkout.
"""

from __future__ import annotations

import itertools
import json
import os
import sqlite3
import subprocess
import time
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from project import embedded_redis
from tests.conftest import failed
from tests.helpers import wait_ready
from tests.processes import PYTHON, ROOT, Processes, wait_until


@pytest.fixture
def demo_env(tmp_path: Path, request: pytest.FixtureRequest):
    env = {
        key: value
        for key, value in os.environ.items()
        if key
        not in (
            "DATABASE_URL",
            "REDIS_URL",
            "DJANGO_SECRET_KEY",
            "EVENTS_PATH",
            "ARTIFACTS_DIR",
            "PROMETHEUS_MULTIPROC_DIR",
        )
        and not key.startswith("PYTEST_")
    }
    var = tmp_path / "var"
    env.update(
        {
            "SCHEDULER_VAR_DIR": str(var),
            "LOG_ROOTS": str(tmp_path),  # the triage test's log lives here
            "SCHEDULER_TICK_SECONDS": "0.2",
            "LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
        }
    )
    procs = Processes(env=env, logs=tmp_path / "logs")
    try:
        yield procs, var
    finally:
        procs.stop_all()
        if failed(request):
            print(procs.report())
        # the embedded Redis stops by itself once its owners are gone
        sock = embedded_redis.socket_path_for(var / "redis")
        wait_until(lambda: not embedded_redis.ping(sock), timeout=20, message="the embedded Redis to stop")


def _query(db: Path, sql: str, *params) -> list[tuple]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
        return conn.execute(sql, params).fetchall()


def _shell(procs: Processes, code: str) -> str:
    return procs.run_manage("shell", "-c", code)


def test_the_same_flow_on_sqlite_and_the_embedded_redis(demo_env, tmp_path: Path):
    procs, var = demo_env
    procs.run_manage("migrate", "--no-input")
    db = var / "db.sqlite3"
    log = tmp_path / "app.log"
    log.write_text("x INFO ok\nx ERROR boom 1\nx ERROR boom 2\n")

    wait_ready(procs.worker(concurrency=2))
    wait_ready(procs.beat())
    _shell(
        procs,
        "from scheduling.models import Schedule; from orchestrator.models import Job; "
        "Schedule(name='every-second', job=Job.objects.get(key='noop'), kind='interval', interval_seconds=1).save(); "
        "Schedule(name='failing', job=Job.objects.get(key='fail'), kind='interval', interval_seconds=1).save(); "
        f"Schedule(name='triage', job=Job.objects.get(key='log_triage'), kind='cron', cron='0 0 1 1 *', "
        f"params={{'path': {str(log)!r}}}).save()",
    )

    def finished(name: str) -> int:
        return _query(
            db,
            "SELECT count(*) FROM orchestrator_run r JOIN scheduling_scheduledrun o ON o.run_id = r.id "
            "JOIN scheduling_schedule s ON s.id = o.schedule_id WHERE s.name = ? AND r.status IN "
            "('succeeded', 'failed')",
            name,
        )[0][0]

    wait_until(lambda: finished("every-second") >= 5 and finished("failing") >= 1, timeout=40, message="runs")

    # A second beat on SQLite is refused with a clear message instead of misbehaving.
    second = subprocess.run(
        [PYTHON, "manage.py", "scheduler", "--serve"],
        cwd=ROOT,
        env=procs.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert second.returncode != 0
    assert "several beats need PostgreSQL" in second.stderr

    # Disable both interval schedules: they stop producing runs.
    _shell(procs, "from scheduling.models import Schedule; Schedule.objects.filter(kind='interval').set_enabled(False)")
    time.sleep(1.5)
    count = _query(db, "SELECT count(*) FROM scheduling_scheduledrun")[0][0]

    # Run now, through the CLI, on a schedule whose cron will not fire during the test.
    out = procs.run_manage("run_now", "triage")
    assert "queued on default" in out
    wait_until(lambda: finished("triage") == 1, timeout=30, message="the manual log_triage run")
    time.sleep(2)
    assert _query(db, "SELECT count(*) FROM scheduling_scheduledrun")[0][0] == count + 1

    occurrences = _query(
        db,
        "SELECT o.scheduled_for, r.status, r.id FROM scheduling_scheduledrun o JOIN orchestrator_run r "
        "ON r.id = o.run_id JOIN scheduling_schedule s ON s.id = o.schedule_id "
        "WHERE s.name = 'every-second' ORDER BY o.scheduled_for",
    )
    times = [datetime.fromisoformat(row[0]) for row in occurrences]
    assert len(times) >= 5 and len(set(times)) == len(times)
    assert {b - a for a, b in itertools.pairwise(times)} == {timedelta(seconds=1)}
    assert {row[1] for row in occurrences} <= {"succeeded", "queued", "running"}

    failing = _query(
        db,
        "SELECT r.error FROM orchestrator_run r JOIN scheduling_scheduledrun o ON o.run_id = r.id "
        "JOIN scheduling_schedule s ON s.id = o.schedule_id WHERE s.name = 'failing' AND r.status = 'failed'",
    )
    assert failing and failing[0][0].startswith("JobFailed:")

    trigger, artifacts = _query(
        db,
        'SELECT r."trigger", (SELECT group_concat(a.name) FROM orchestrator_runartifact a WHERE a.run_id = r.id) '
        "FROM orchestrator_run r JOIN scheduling_scheduledrun o ON o.run_id = r.id "
        "JOIN scheduling_schedule s ON s.id = o.schedule_id WHERE s.name = 'triage'",
    )[0]
    assert trigger == "manual"
    assert sorted(artifacts.split(",")) == ["triage.json", "triage.md"]

    by_run: dict[str, list[str]] = defaultdict(list)
    for line in (var / "logs" / "orchestrator_state.jsonl").read_text().splitlines():
        event = json.loads(line)
        if "run_id" in event:
            by_run[event["run_id"].replace("-", "")].append(event["event"])  # SQLite keeps UUIDs as hex
    for _, status, run_id in occurrences:
        if status == "succeeded":
            assert by_run[str(run_id).replace("-", "")] == ["schedule_enqueued", "run_started", "run_finished"]


def test_demo_command_shows_runs_and_leaves_nothing_behind(demo_env):
    procs, var = demo_env
    stale = var / "metrics" / "counter_424242.db"  # a process of an earlier demo
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_bytes(b"\0" * 16)
    demo = procs.manage("demo", "demo", "--for", "25", "--port", "0")
    wait_until(lambda: "Ostinato demo is running" in demo.output(), timeout=90, message="the demo to start")
    assert not stale.exists()  # its counts are not this demo's
    started = time.monotonic()
    # How soon is a figure, not a test's assertion (on a slow machine under a parallel suite it took
    # over 10 s): the bound here only stops a demo that never runs anything.
    wait_until(lambda: "run_finished" in demo.output(), timeout=60, message="a run")
    print(f"first run finished {time.monotonic() - started:.1f} s after the demo said it was running")
    assert "login admin / " in demo.output()

    # A second demo from the same folder says so at once and touches none of the first one's files.
    files = [path for path in var.rglob("*") if path.is_file() and "metrics" not in path.parts]
    before = {path: path.stat().st_mtime_ns for path in files}
    asked = time.monotonic()
    second = subprocess.run(
        [PYTHON, "manage.py", "demo", "--port", "0"],
        cwd=ROOT,
        env=procs.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert second.returncode != 0 and "a demo is already running from this folder" in second.stderr, second
    assert time.monotonic() - asked < 15
    lock = json.loads((var / "demo.lock").read_text())
    assert lock["pid"] == demo.popen.pid and lock["url"].startswith("http://127.0.0.1:")
    untouched = ("demo.lock", "demo-admin-password", "db.sqlite3")
    for path, mtime in before.items():
        if path.name in untouched:
            assert path.stat().st_mtime_ns == mtime, path
    demo.popen.wait(timeout=60)
    assert demo.popen.returncode == 0, demo.tail()
    assert "demo stopped" in demo.output()
