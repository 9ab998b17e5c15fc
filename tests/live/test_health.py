"""/healthz, /readyz and the status page against a live gunicorn, beat and worker on a private Redis.

The Redis server here is started by the test (not the shared one), so stopping it affects only
this test's processes.
"""

from __future__ import annotations

import json
from pathlib import Path

import redis as redis_lib
from django.contrib.auth.models import User
from django.test import Client

from scheduling.engine import heartbeat
from scheduling.surfaces.api.tokens import ApiToken
from tests import factories
from tests.helpers import wait_ready
from tests.processes import Processes, free_port, wait_until
from tests.webserver import get, start_web


def _start_redis(live: Processes, port: int, folder: Path):
    folder.mkdir(exist_ok=True)
    proc = live.start(
        "redis",
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(folder),
        ],
    )
    client = redis_lib.Redis(port=port, socket_connect_timeout=1)

    def answers() -> bool:
        try:
            return bool(client.ping())
        except redis_lib.ConnectionError:
            return False

    wait_until(answers, timeout=20, message="the private redis-server")
    client.close()
    return proc


def _ready(base: str, token: str | None = None) -> tuple[int, dict]:
    headers = {"Authorization": f"Token {token}"} if token else {}
    status, body = get(f"{base}/readyz", headers=headers)
    return status, json.loads(body)


def test_readyz_names_the_failing_check_and_recovers(live, tmp_path: Path):
    port = free_port()
    redis_proc = _start_redis(live, port, tmp_path / "redis")
    env = {"REDIS_URL": f"redis://127.0.0.1:{port}/0", "SCHEDULER_BEAT_HEARTBEAT_SECONDS": "3"}
    live.env.update(env)
    factories.schedule(
        "noop", name="hourly", kind="cron", cron="0 * * * *"
    )  # enabled: the default queue needs a worker
    staff = User.objects.create_user("ops", password="pw-ops-1", is_staff=True)
    _token, token = ApiToken.objects.issue(staff)
    base = start_web(live)
    wait_ready(live.beat())
    worker = live.worker(concurrency=1)
    wait_ready(worker)

    def ready() -> bool:
        return _ready(base)[0] == 200

    wait_until(ready, timeout=30, message="/readyz 200 with beat and worker up")
    status, body = _ready(base, token)
    assert status == 200 and body["status"] == "ok" and body["failed"] == []
    assert body["checks"]["workers"]["queues_needed"] == ["default"]
    assert body["checks"]["beat"]["beats"] and body["checks"]["migrations"]["ok"]
    status, anonymous = _ready(base)
    assert "checks" not in anonymous, "details only for staff"

    # No worker for the queue an enabled schedule uses.
    worker.stop()
    status, body = wait_until(
        lambda: (r := _ready(base, token))[0] == 503 and r, timeout=30, message="503 without worker"
    )
    assert body["failed"] == ["workers"] and "default" in body["checks"]["workers"]["detail"]
    worker = live.worker(concurrency=1)
    wait_ready(worker)
    wait_until(ready, timeout=30, message="/readyz 200 with a worker again")

    # No beat ticking: its heartbeat expires by itself.
    next(p for p in live.started if p.name == "beat").kill()
    status, body = wait_until(
        lambda: (r := _ready(base, token))[0] == 503 and r, timeout=30, message="503 without beat"
    )
    assert body["failed"] == ["beat"] and "no beat has ticked" in body["checks"]["beat"]["detail"]
    # Anonymous callers are answered from each process's cache: they see it within HEALTH_CACHE_SECONDS.
    status, anonymous = wait_until(
        lambda: (r := _ready(base))[0] == 503 and r, timeout=30, message="anonymous 503 without beat"
    )
    assert anonymous == {"status": "unavailable"}
    wait_ready(live.beat("beat2"))
    wait_until(ready, timeout=30, message="/readyz 200 with a beat again")

    # Redis stopped.
    redis_proc.stop()
    status, body = wait_until(
        lambda: (r := _ready(base, token))[0] == 503 and r, timeout=30, message="503 without redis"
    )
    assert "redis" in body["failed"] and "Redis does not answer" in body["checks"]["redis"]["detail"]
    assert body["checks"]["database"]["ok"]
    _start_redis(live, port, tmp_path / "redis")
    wait_until(ready, timeout=90, interval=0.5, message="/readyz 200 once Redis is back")


def test_beat_heartbeat_is_written_each_cycle_and_expires(live, redis_db, settings):
    settings.SCHEDULER_BEAT_HEARTBEAT_SECONDS = 1.5
    beat = live.manage("serve", "scheduler", "--serve", env={"SCHEDULER_BEAT_HEARTBEAT_SECONDS": "1.5"})
    found = wait_until(
        lambda: [b for b in heartbeat.live_beats() if b.pid == beat.pid], timeout=30, message="the beat's heartbeat"
    )[0]
    assert found.version and found.ticks >= 1 and found.last_tick_ms >= 0 and found.age_seconds < 1.5
    factories.schedule("noop", name="every-second", kind="interval", interval_seconds=1)
    wait_until(
        lambda: [b for b in heartbeat.live_beats() if b.pid == beat.pid and b.dispatched >= 1],
        timeout=30,
        message="dispatches counted in the heartbeat",
    )
    beat.kill()  # no clean shutdown: the hash must expire by itself
    wait_until(lambda: not [b for b in heartbeat.live_beats() if b.pid == beat.pid], timeout=10, message="expiry")
    assert not redis_db.exists(found.key)


def test_status_page_is_staff_only_and_shows_the_deployment(live, client: Client):
    factories.schedule("noop", name="soon", kind="interval", interval_seconds=20)
    wait_ready(live.beat())
    wait_ready(live.worker(concurrency=3))
    wait_until(lambda: heartbeat.live_beats(), timeout=30, message="a beat heartbeat")
    assert client.get("/schedules/status/").status_code == 302
    User.objects.create_user("viewer", password="pw-viewer-1")
    client.login(username="viewer", password="pw-viewer-1")
    assert client.get("/schedules/status/").status_code in (302, 403)
    User.objects.create_user("ops", password="pw-ops-1", is_staff=True)
    client.login(username="ops", password="pw-ops-1")
    response = client.get("/schedules/status/")
    page = response.content.decode()
    assert response.status_code == 200 and 'http-equiv="refresh"' in page
    snap = response.context["snap"]
    assert snap.beats and snap.workers and snap.workers[0].queues == ["default"] and snap.workers[0].concurrency == 3
    assert "default" in snap.queue_depths and snap.due_next_minute >= 1 and "soon" in snap.due_schedules
    assert snap.errors == {}
    assert snap.beats[0].host in page and snap.beats[0].last_tick.strftime("%Y-%m-%d %H:") in page
    assert snap.workers[0].name in page and "No run is past its timeout." in page
