"""Workers survive Redis restarts under load, and every run still executes exactly once.

A private ``redis-server`` (its own port, no persistence) is both the broker and ``REDIS_URL`` of
one beat and two workers while 100 schedules fire together every 2 s (``overlap_policy=allow``,
so every occurrence is a run). Redis is shut down (``SHUTDOWN NOSAVE``) several times in a row,
each time while the workers hold unacknowledged messages (the moment kombu must put them back),
kept down about a second, and started again empty. The same worker processes must come back and
consume; each run created must have started and finished once (``run_started`` / ``run_finished``
events written by the workers) and ended ``succeeded``. Without ``workers.redis_channel`` a worker
exited (status 1) at the first or second restart in every control run ("Unrecoverable error:
AttributeError(... 'hostname')").
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from django.utils import timezone

from orchestrator import events
from orchestrator.models import ACTIVE_STATUSES, Run
from scheduling.models import Schedule
from tests import factories
from tests.helpers import QUICK, start_private_redis, wait_ready
from tests.processes import Proc, free_port, wait_until
from tests.redis_restarts import restart_under_load

SCHEDULES = 100
#: Schedules of a 1 s ``sleep`` among them: at the end of each burst they keep messages
#: unacknowledged while the queue is empty, so a worker holds a message *and* waits on ``BRPOP``
#: for its free process, the state in which its cleanup met the bug.
SLOW = 2
INTERVAL_SECONDS = 2
RESTARTS = 4


def test_workers_survive_redis_restarts_under_load_and_every_run_executes_once(live, settings):
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    env = {**QUICK, "REDIS_URL": url}
    settings.SCHEDULER_REDIS_URL = url
    server = start_private_redis(live, port)
    workers = [live.worker(f"worker{i}", concurrency=3, env=env) for i in range(2)]
    beat = live.beat(env=env)
    for proc in [*workers, beat]:
        wait_ready(proc)
    pids = [w.pid for w in workers]
    start_at = timezone.now().replace(microsecond=0) + timedelta(seconds=2)
    noop, sleep = factories.job("noop"), factories.job("sleep")
    for index in range(SCHEDULES):
        Schedule(
            name=f"burst-{index:03d}",
            job=sleep if index < SLOW else noop,
            params={"seconds": 1} if index < SLOW else {},
            kind="interval",
            interval_seconds=INTERVAL_SECONDS,
            start_at=start_at,
            overlap_policy="allow",
        ).save()
    wait_until(lambda: Run.objects.filter(status="succeeded").exists(), timeout=60, message="runs flowing")

    restarts = []
    for _ in range(RESTARTS):
        restart = restart_under_load(live, server, port, workers)
        server = restart.server
        restarts.append(restart)
        assert all(w.alive() for w in workers), _exits(workers)
    last_up = timezone.now()

    def consumed_after_restarts() -> bool:
        after = Run.objects.filter(created_at__gt=last_up, status="succeeded")
        by_worker = [after.filter(worker__startswith=f"{w.name}-").count() for w in workers]
        return sum(by_worker) >= SCHEDULES and all(by_worker)

    wait_until(consumed_after_restarts, timeout=90, message="both workers to consume runs after the last restart")
    Schedule.objects.all().set_enabled(False)
    wait_until(lambda: not Run.objects.filter(status__in=ACTIVE_STATUSES).exists(), timeout=90, message="a drain")

    runs = list(Run.objects.all())
    started = Counter(e["run_id"] for e in events.iter_events() if e.get("event") == "run_started")
    finished = Counter(e["run_id"] for e in events.iter_events() if e.get("event") == "run_finished")
    twice = [r.id for r in runs if started[str(r.id)] > 1 or finished[str(r.id)] > 1]
    never = [r.id for r in runs if started[str(r.id)] == 0 or finished[str(r.id)] == 0]
    statuses = Counter(r.status for r in runs)
    print(
        f"\n{len(restarts)} Redis restarts under {SCHEDULES} schedules every {INTERVAL_SECONDS}s, down "
        f"{', '.join(f'{r.down_seconds:.1f}' for r in restarts)} s, unacknowledged messages at each shutdown "
        f"{[r.unacked for r in restarts]}: {len(runs)} runs {dict(statuses)}, executed twice {len(twice)}, "
        f"never executed {len(never)}; worker PIDs {pids} -> {[w.pid for w in workers]}, alive "
        f"{[w.alive() for w in workers]}"
    )
    assert [w.pid for w in workers] == pids and all(w.alive() for w in workers), _exits(workers)
    assert beat.alive(), beat.tail()
    assert twice == [] and never == []
    assert set(statuses) == {"succeeded"}


def _exits(workers: list[Proc]) -> str:
    """How the workers that are gone ended: exit status and the end of their log."""
    return "\n\n".join(
        f"{w.name} (pid {w.pid}) exited with status {w.popen.returncode}:\n{w.tail()}" for w in workers if not w.alive()
    )
