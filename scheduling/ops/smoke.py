"""``manage.py smoke``: check a running deployment end to end, as an operator would, through the REST API only.

Steps, each printed with the seconds since the start; the first failure stops the run:

1. the API answers and the jobs the test uses are registered;
2. a temporary interval schedule is created, fires by itself (a beat is dispatching) and its run
   succeeds (a worker serves the job's queue);
3. run-now on it produces a second run that succeeds;
4. a temporary disabled schedule of the ``sleep`` job with ``max_concurrency=1`` is run now three
   times at once; its runs all succeed and never overlap in time.

Whatever it created is removed at the end, also after a failure: its active runs are cancelled
and its schedules deleted (with their occurrences). The runs themselves stay, as history; their
schedule names start with ``smoke-``.
"""

from __future__ import annotations

import itertools
import json
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

from orchestrator.errors import SchedulerError

FINAL = ("succeeded", "failed", "timed_out", "cancelled")
ACTIVE = ("pending", "queued", "running")
POLL_SECONDS = 0.5
INTERVAL_SECONDS = 3
LIMIT_RUNS = 3
LIMIT_SLEEP_SECONDS = 1


class Output(Protocol):
    def write(self, text: str) -> Any: ...

    def flush(self) -> Any: ...


class SmokeFailed(SchedulerError):
    """A smoke step failed; the message says which and why."""


class Api:
    """A tiny JSON client for ``/api/`` with a token (urllib: nothing to install on the operator's side)."""

    def __init__(self, base_url: str, token: str, *, timeout_seconds: float = 15.0) -> None:
        if urlsplit(base_url).scheme not in ("http", "https") or not urlsplit(base_url).hostname:
            raise SmokeFailed(f"--base-url {base_url!r}: expected http(s)://host[:port]")
        self.base = base_url.rstrip("/")
        self.token = token
        self.timeout_seconds = timeout_seconds

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310 (the scheme is checked in __init__)
            f"{self.base}{path}",
            data=data,
            method=method,
            headers={"Authorization": f"Token {self.token}", "Accept": "application/json"}
            | ({"Content-Type": "application/json"} if data is not None else {}),
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_seconds) as response:  # noqa: S310 (operator's URL)
                status, raw = int(response.status), response.read()
        except urllib.error.HTTPError as exc:
            status, raw = int(exc.code), exc.read()
        except (urllib.error.URLError, OSError) as exc:
            raise SmokeFailed(f"{method} {self.base}{path}: no answer ({exc})") from exc
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw.decode(errors="replace")[:300]

    def expect(self, method: str, path: str, body: dict[str, Any] | None = None, *, status: int = 200) -> Any:
        got, payload = self.call(method, path, body)
        if got != status:
            raise SmokeFailed(f"{method} {path} answered {got} (expected {status}): {payload}")
        return payload


class Smoke:
    def __init__(
        self,
        api: Api,
        *,
        timeout_seconds: float,
        out: Output,
        clock: Callable[[], float] = time.monotonic,
        job: str = "noop",
        sleep_job: str = "sleep",
    ) -> None:
        self.api = api
        self.timeout_seconds = timeout_seconds
        self.out = out
        self.clock = clock
        self.job = job
        self.sleep_job = sleep_job
        self.prefix = f"smoke-{secrets.token_hex(4)}"
        self.created: list[int] = []
        self.queue = "?"
        self._started = clock()
        self._deadline = self._started + timeout_seconds

    # --- output ---------------------------------------------------------------------------------

    def say(self, status: str, text: str) -> None:
        self.out.write(f"[{self.clock() - self._started:7.2f}s] {status:<6} {text}\n")
        self.out.flush()

    def _remaining(self) -> float:
        return self._deadline - self.clock()

    # --- the steps ------------------------------------------------------------------------------

    def run(self) -> None:
        """Every step in order; raises ``SmokeFailed`` at the first failure, cleans up in any case."""
        try:
            self.step("API answers", self.check_api)
            schedule = self.step("temporary schedule created", self.create_interval_schedule)
            first = self.step("schedule fired by itself and succeeded", lambda: self.first_scheduled_run(schedule))
            self.step("run-now produced a second run that succeeded", lambda: self.run_now(schedule, first))
            self.step("max_concurrency=1 held: runs never overlapped", self.concurrency_limit)
        finally:
            self.cleanup()

    def step(self, name: str, action: Callable[[], Any]) -> Any:
        try:
            result = action()
        except SmokeFailed as exc:
            self.say("FAIL", f"{name}: {exc}")
            raise SmokeFailed(f"{name}: {exc}") from exc
        self.say("ok", name + (f" ({result['note']})" if isinstance(result, dict) and "note" in result else ""))
        return result

    def check_api(self) -> dict[str, Any]:
        jobs = self.api.expect("GET", "/api/jobs/?page_size=500")
        keys = {job["key"]: job for job in jobs.get("results", [])}
        missing = [key for key in (self.job, self.sleep_job) if key not in keys or not keys[key].get("registered")]
        if missing:
            raise SmokeFailed(f"job(s) {', '.join(missing)} are not registered on this deployment")
        self.queue = str(keys[self.job]["queue"])
        return {"note": f"{len(keys)} jobs; {self.job} goes to queue {self.queue!r}"}

    def create_interval_schedule(self) -> dict[str, Any]:
        body = {
            "name": f"{self.prefix}-interval",
            "description": "Temporary: created by manage.py smoke, deleted when it ends.",
            "job": self.job,
            "kind": "interval",
            "interval_seconds": INTERVAL_SECONDS,
            "overlap_policy": "skip",
        }
        schedule = self.api.expect("POST", "/api/schedules/", body, status=201)
        self.created.append(int(schedule["id"]))
        return dict(schedule) | {"note": f"id {schedule['id']}, every {INTERVAL_SECONDS}s"}

    def _wait_runs(self, path: str, done: Callable[[list[dict[str, Any]]], bool], waiting_for: str) -> list[Any]:
        last: list[dict[str, Any]] = []
        while self._remaining() > 0:
            last = list(self.api.expect("GET", path).get("results", []))
            failed = [run for run in last if run["status"] in ("failed", "timed_out", "cancelled")]
            if failed:
                run = failed[0]
                raise SmokeFailed(f"run {run['id']} ended {run['status']}: {(run.get('error') or '')[:300]}")
            if done(last):
                return last
            time.sleep(POLL_SECONDS)
        statuses = ", ".join(f"{run['id']}: {run['status']}" for run in last) or "no run at all"
        hint = (
            "is a beat running?"
            if not last
            else f"is a worker serving queue {self.queue!r}? (celery -A project worker -Q ...)"
        )
        raise SmokeFailed(f"timed out after {self.timeout_seconds:g}s waiting for {waiting_for} ({statuses}); {hint}")

    def first_scheduled_run(self, schedule: dict[str, Any]) -> dict[str, Any]:
        runs = self._wait_runs(
            f"/api/runs/?schedule={schedule['id']}&trigger=schedule",
            lambda rows: any(run["status"] == "succeeded" for run in rows),
            "a scheduled run to succeed",
        )
        self.api.expect("POST", f"/api/schedules/{schedule['id']}/disable/")  # no more automatic runs
        succeeded = next(run for run in runs if run["status"] == "succeeded")
        return dict(succeeded) | {"note": f"run {succeeded['id']} on {succeeded['worker']}"}

    def run_now(self, schedule: dict[str, Any], first: dict[str, Any]) -> dict[str, Any]:
        run = self.api.expect("POST", f"/api/schedules/{schedule['id']}/run-now/", status=202)
        if run["id"] == first["id"]:
            raise SmokeFailed("run-now answered with the scheduled run instead of a new one")
        self._wait_runs(
            f"/api/runs/?schedule={schedule['id']}&trigger=api",
            lambda rows: any(r["id"] == run["id"] and r["status"] == "succeeded" for r in rows),
            f"run {run['id']} to succeed",
        )
        return {"note": f"run {run['id']}"}

    def concurrency_limit(self) -> dict[str, Any]:
        body = {
            "name": f"{self.prefix}-limit",
            "description": "Temporary: created by manage.py smoke, deleted when it ends.",
            "job": self.sleep_job,
            "params": {"seconds": LIMIT_SLEEP_SECONDS},
            "kind": "cron",
            "cron": "0 0 1 1 *",
            "enabled": False,
            "overlap_policy": "allow",
            "max_concurrency": 1,
        }
        schedule = self.api.expect("POST", "/api/schedules/", body, status=201)
        self.created.append(int(schedule["id"]))
        ids = [self.api.expect("POST", f"/api/schedules/{schedule['id']}/run-now/", status=202)["id"] for _ in range(3)]
        runs = self._wait_runs(
            f"/api/runs/?schedule={schedule['id']}",
            lambda rows: len(rows) >= LIMIT_RUNS and all(r["status"] == "succeeded" for r in rows),
            f"{LIMIT_RUNS} runs of the limited schedule to succeed",
        )
        spans = sorted(
            (datetime.fromisoformat(run["started_at"]), datetime.fromisoformat(run["finished_at"]), run["id"])
            for run in runs
            if run["id"] in ids
        )
        for (_, earlier_end, earlier), (later_start, _, later) in itertools.pairwise(spans):
            if later_start < earlier_end:
                raise SmokeFailed(f"runs {earlier} and {later} overlapped although max_concurrency is 1")
        return {"note": f"{len(spans)} runs one after another"}

    def cleanup(self) -> None:
        for schedule_id in self.created:
            try:
                active = []
                for status in ACTIVE:
                    got, page = self.api.call("GET", f"/api/runs/?schedule={schedule_id}&status={status}")
                    if got == 200:
                        active += [run["id"] for run in page.get("results", [])]
                for run_id in active:
                    self.api.call("POST", f"/api/runs/{run_id}/cancel/", {"reason": "smoke test cleanup"})
                got, payload = self.api.call("DELETE", f"/api/schedules/{schedule_id}/")
            except SmokeFailed as exc:
                self.say("WARN", f"cleanup: schedule {schedule_id} not removed: {exc}")
                continue
            if got in (204, 404):
                self.say(
                    "ok",
                    f"cleanup: schedule {schedule_id} removed"
                    + (f", {len(active)} run(s) cancelled" if active else ""),
                )
            else:
                self.say("WARN", f"cleanup: DELETE schedule {schedule_id} answered {got}: {payload}")
