"""``./scripts/bench --only notify-hang``: the beat's dispatch with a notification endpoint that hangs.

One child process (``bench.child notify-hang``) is the beat: the ``Dispatcher`` loop ``celery beat``
runs, against the bench database and Redis. It seeds 200 interval schedules due every second
(spread over the second, overlap ``allow``); 20 of them have ``deadline_seconds=1``, and nothing
executes their runs, so every second about 20 runs become overdue and the maintenance pass routes
them as ``run_overdue`` notifications. Two windows of the same length:

* **without**: no notification rule (routing reads the rules and finds none);
* **hanging**: a rule on ``run_overdue`` whose webhook is an HTTP endpoint in this process that
  accepts each request and never answers, and a real ``celery worker -Q notifications -c 2``
  delivering to it (timeout 30 s): its two processes are soon stuck, the queue fills.

Printed per window: dispatches per second, dispatch lag (publish time minus scheduled time)
p50/p99/max, maintenance pass p99, the notification rows written and the requests the endpoint
received. The claim: the windows agree within noise, because routing only writes a row and
publishes a task; the endpoint is only ever waited on by the notifications worker.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

N_SCHEDULES = 200
N_DEADLINED = 20
WINDOW_S = 20.0
ROOT = Path(__file__).resolve().parents[1]


def _percentiles(values: list[float]) -> dict[str, float]:
    from bench import stats

    if not values:
        return {"n": 0, "p50_s": float("nan"), "p99_s": float("nan"), "max_s": float("nan")}
    return {"n": len(values), "p50_s": stats.percentile(values, 50), "p99_s": stats.percentile(values, 99),
            "max_s": max(values)}  # fmt: skip


class _Hanging:
    """An HTTP endpoint that reads each request and never answers (until stopped)."""

    def __init__(self) -> None:
        self.requests = 0
        self.stop = threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                owner.requests += 1
                owner.stop.wait(120)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self) -> None:
        self.stop.set()
        self.server.shutdown()
        self.server.server_close()


def _window(dispatcher: Any, seconds: float) -> dict[str, Any]:
    lags: list[float] = []
    maintenance_s: list[float] = []
    dispatched = 0
    began = time.monotonic()
    while time.monotonic() - began < seconds:
        cycle_began = time.monotonic()
        cycle = dispatcher.cycle()
        if cycle.maintenance is not None:
            maintenance_s.append(time.monotonic() - cycle_began)
        if cycle.tick is not None and cycle.tick.handled:
            published = cycle.tick.finished_at or datetime.now(UTC)
            done = [h for h in cycle.tick.handled if h.action == "dispatch"]
            dispatched += len(done)
            lags += [(published - h.scheduled_for).total_seconds() for h in done]
        time.sleep(max(0.0, min(cycle.sleep_seconds, seconds - (time.monotonic() - began))))
    elapsed = time.monotonic() - began
    return {
        "seconds": elapsed,
        "dispatched": dispatched,
        "rate_per_s": dispatched / elapsed if elapsed else 0.0,
        "lag": _percentiles(lags),
        "maintenance_p99_s": _percentiles(maintenance_s)["p99_s"],
    }


def step_notify_hang(args: argparse.Namespace) -> dict[str, Any]:
    """In a child process (Django set up): seed, run the beat loop without a rule, then with a hanging one."""
    from bench.child_io import sql
    from bench.seeding import reset, seed_ours
    from orchestrator.models import Notification, NotificationRule
    from scheduling.engine.loop import Dispatcher
    from scheduling.models import Schedule

    reset()
    sql("DELETE FROM orchestrator_notification")
    sql("DELETE FROM orchestrator_notificationrule")
    now = datetime.now(UTC).replace(microsecond=0)
    first = now + timedelta(seconds=3)
    seed_ours(N_SCHEDULES, start_at=first, due_at=first, interval=1, spread=1.0)
    deadlined = list(Schedule.objects.order_by("pk").values_list("pk", flat=True)[:N_DEADLINED])
    Schedule.objects.filter(pk__in=deadlined).update(deadline_seconds=1)
    sql("ANALYZE")

    dispatcher = Dispatcher()
    _window(dispatcher, 4.0)  # warm up: the first due times, the first overdue runs
    without = _window(dispatcher, args.budget)
    without["notifications"] = Notification.objects.count()

    endpoint = _Hanging()
    env = {**os.environ, "SCHEDULER_NOTIFY_TIMEOUT_SECONDS": "30", "SCHEDULER_NOTIFY_MAX_ATTEMPTS": "1"}
    worker = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "celery"), "-A", "project", "worker", "-Q", "notifications", "-c", "2",
         "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "WARNING",
         "-n", f"bench-notify-{time.time_ns()}@%h"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        NotificationRule.objects.create(name="bench-hanging", events=["run_overdue"], target=endpoint.url, secret="b")
        # The worker starts and takes its first deliveries while the beat goes on (a sleep here
        # left 3 s of due schedules for the window's first tick: a catch-up, not the endpoint).
        _window(dispatcher, 3.0)
        hanging = _window(dispatcher, args.budget)
        hanging["notifications"] = Notification.objects.count()
        hanging["endpoint_requests"] = endpoint.requests
        hanging["notifications_sent"] = Notification.objects.filter(status="sent").count()
    finally:
        dispatcher.close()
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
        endpoint.close()
    return {"schedules": N_SCHEDULES, "deadlined": N_DEADLINED, "without": without, "hanging": hanging}


Child = Callable[..., dict[str, Any]]


def notify_hang_step(child: Child, say: Callable[[str], None], env: dict[str, str]) -> dict[str, Any]:
    say(
        f"== dispatch with a hanging notification endpoint: {N_SCHEDULES} schedules every second, "
        f"{N_DEADLINED} of them overdue each second (run_overdue routed), {WINDOW_S:.0f} s without a rule, "
        f"then {WINDOW_S:.0f} s with a webhook rule whose endpoint never answers (a real notifications worker)"
    )
    result = child(env, "notify-hang", "--budget", WINDOW_S, timeout=600)
    for name in ("without", "hanging"):
        window = result[name]
        lag = window["lag"]
        extra = (
            f", endpoint got {window['endpoint_requests']} request(s), {window['notifications_sent']} sent"
            if name == "hanging"
            else ""
        )
        say(
            f"  {name}: {window['rate_per_s']:.1f} dispatches/s, lag p50 {lag['p50_s']:.3f} s, "
            f"p99 {lag['p99_s']:.3f} s, max {lag['max_s']:.3f} s; "
            f"maintenance p99 {window['maintenance_p99_s'] * 1000:.0f} ms; "
            f"{window['notifications']} notification row(s){extra}"
        )
    ratio = result["hanging"]["rate_per_s"] / result["without"]["rate_per_s"] if result["without"]["rate_per_s"] else 0
    say(f"  dispatch rate hanging / without: {ratio:.3f}")
    result["rate_ratio"] = ratio
    return result
