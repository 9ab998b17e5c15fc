"""Ostinato inside someone else's Django project: ``examples/host_project`` with the wheel, in real processes.

The example (a ``hostsite`` project with its own Celery app and a ``billing`` app of plain Celery
tasks) is copied to the test's folder and run from there with a fresh virtual environment
(``tests/host_install.py``: Ostinato installed from a wheel of this checkout, not editable, beside
the example's pinned requirements), a PostgreSQL database of its own (named after this session's
slot, made and dropped by ``host_install.host_project``) and this session's Redis database.
Nothing of the checkout is on the processes' path, and their environment has no ``SCHEDULER_*``
name.

What a host once tripped on is each asserted: a top-level ``project`` in site-packages, ``migrate``
needing ``SCHEDULER_*`` settings, templates and static files missing from the wheel,
``CELERY_BROKER_TRANSPORT_OPTIONS`` being needed, Django's default ``LOGGING`` breaking worker or
beat start-up, ``celery.current_app`` not being the host's app in the worker, a page naming a URL
only the standalone project has, and a task without a ``queue`` option failing every run.
"""

from __future__ import annotations

import hashlib
import http.cookiejar
import json
import os
import re
import socket
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis as redis_lib

from orchestrator import events
from tests import host_install
from tests.conftest import failed
from tests.helpers import wait_ready
from tests.host_install import Host
from tests.processes import free_port, wait_until

EXAMPLE = host_install.EXAMPLE
TASKS = EXAMPLE / "billing" / "tasks.py"
FINAL = ("succeeded", "failed", "timed_out", "cancelled")
PASSWORD = "ops-password-for-tests"
#: The test's schedules' arguments: not those of the host's own ``beat_schedule`` entries (customer 42,
#: ``acme-pay``), which the beats make schedules at start and run when due (``payments-every-15-minutes``
#: at :00, :15, :30, :45), so that their calls are never counted as the test's.
CUSTOMER = 7
PROVIDER = "globex-pay"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


TASKS_SHA256 = sha256(TASKS)  # when the test module was imported: compared after the run


@pytest.fixture
def host(
    installed: host_install.Install, tmp_path: Path, redis_db: redis_lib.Redis, request: pytest.FixtureRequest
) -> Iterator[Host]:
    database = f"test_ostinato_s{os.environ['OSTINATO_TEST_SLOT']}_host"
    with host_install.host_project(installed, tmp_path, database=database, report_if=lambda: failed(request)) as found:
        yield found


class Web:
    """The host's web process as an operator reaches it: an API token, and a browser session."""

    def __init__(self, base: str, token: str) -> None:
        self.base = base
        self.token = token
        self.browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def api(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        request = urllib.request.Request(
            self.base + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Token {self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"{method} {path}: {exc.code} {exc.read().decode()[:2000]}") from exc

    def log_in(self, username: str, password: str, next_page: str) -> tuple[int, str]:
        """Log in through the admin's form (the site's LOGIN_URL) and land on ``next_page``."""
        login = f"{self.base}/admin/login/?next={next_page}"
        form = self.browser.open(login, timeout=30).read().decode()
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form)
        assert match, form[:2000]
        data = {"csrfmiddlewaretoken": match.group(1), "username": username, "password": password, "next": next_page}
        with self.browser.open(login, urllib.parse.urlencode(data).encode(), timeout=30) as response:
            return int(response.status), response.read().decode()


def start_web(host: Host) -> str:
    port = free_port()
    web = host.start("web", "-m", "gunicorn", "hostsite.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "1")
    base = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        if not web.alive():
            raise AssertionError(f"gunicorn exited early:\n{web.tail()}")
        try:
            urllib.request.urlopen(f"{base}/admin/login/", timeout=2).close()
        except OSError:
            return False
        return True

    wait_until(answers, timeout=60, message="the host's web process")
    return base


def history(web: Web, schedule_id: int) -> list[dict[str, Any]]:
    return web.api("GET", f"/api/schedules/{schedule_id}/history/?page_size=500")["results"]


def peak_overlap(intervals: list[tuple[datetime, datetime]]) -> int:
    """The most intervals open at one instant (an end before a start at the same instant)."""
    edges = [(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals]
    current = peak = 0
    for _, step in sorted(edges):
        current += step
        peak = max(peak, current)
    return peak


def test_the_wheel_installs_the_three_apps_with_their_templates_and_static_files(installed):
    site = installed.site_packages
    top_level = {path.name for path in site.iterdir()}
    assert {"scheduling", "orchestrator", "workers"} <= top_level
    assert "project" not in top_level and "project" not in {
        p.name for p in installed.requirements_site_packages.iterdir()
    }
    assert not {"tests", "bench", "examples", "billing", "hostsite"} & top_level
    for shipped in (
        "scheduling/templates/scheduling/base.html",
        "scheduling/templates/scheduling/schedule_list.html",
        "scheduling/templates/admin/scheduling/schedule/change_form.html",
        "orchestrator/templates/admin/orchestrator/run/change_form.html",
        "scheduling/static/scheduling/schedules.css",
        "scheduling/static/scheduling/schedules.js",
        "orchestrator/static/orchestrator/admin.css",
        "scheduling/migrations/0001_initial.py",
    ):
        assert (site / shipped).is_file(), shipped
    dist_info = next(site.glob("ostinato-*.dist-info"))
    record = dist_info / "RECORD"
    assert not [line for line in record.read_text().splitlines() if line.startswith(("project/", "tests/"))]
    # the license as an SPDX expression (PEP 639): setuptools deprecates the table form, an error from 2027-02-18
    assert "License-Expression: Apache-2.0" in (dist_info / "METADATA").read_text().splitlines()
    assert not [p for p in site.rglob("tasks.py") if sha256(p) == TASKS_SHA256], "the host's task code is not copied"
    probe = "import importlib.util as u, scheduling; print(u.find_spec('project'), scheduling.__file__)"
    found = subprocess.run(
        [str(installed.python), "-c", probe], cwd=installed.python.parent, capture_output=True, text=True, check=True
    ).stdout.split()
    assert found == ["None", str(site / "scheduling" / "__init__.py")], "not importable from the checkout"


def set_up(host: Host) -> str:
    """What the README has a host do once: check, migrate, collect static files; then an operator and a token."""
    assert host.manage("check").strip() == "System check identified no issues (0 silenced)."
    migrated = host.manage("migrate", "--noinput")
    for app in ("scheduling", "orchestrator", "billing", "django_celery_beat"):
        assert f"Applying {app}.0001_initial... OK" in migrated
    host.manage("collectstatic", "--noinput")
    for collected in ("scheduling/schedules.css", "scheduling/schedule_form.js", "orchestrator/admin.css"):
        assert (host.folder / "staticfiles" / collected).is_file(), collected
    host.manage(
        "createsuperuser", "--noinput", "--username", "ops", "--email", "ops@example.com",
        env={"DJANGO_SUPERUSER_PASSWORD": PASSWORD},
    )  # fmt: skip
    return host.manage("api_token", "ops").splitlines()[-1].strip()


def test_the_host_projects_own_tasks_run_as_schedules_exactly_once(host: Host):
    settings_text = (host.folder / "hostsite" / "settings.py").read_text()
    assert "SCHEDULER_" not in settings_text and not [name for name in host.env if name.startswith("SCHEDULER_")]
    assert "BROKER_TRANSPORT_OPTIONS" not in settings_text, "kombu's defaults are enough"
    assert "LOGGING" not in settings_text, "Django's default logging"
    token = set_up(host)

    worker_name = f"host-{os.getpid()}@%h"
    worker = host.start("worker", "-m", "celery", "-A", "hostsite", "worker", "-Q", "celery,payments", "-c", "3",
                        "-n", worker_name, "--without-gossip", "--without-mingle", "-l", "info")  # fmt: skip
    beats = [
        host.start(f"beat-{i}", "-m", "celery", "-A", "hostsite", "beat", "-l", "info", "--pidfile=") for i in (1, 2)
    ]
    web = Web(start_web(host), token)
    for proc in (worker, *beats):
        wait_ready(proc, timeout=60)

    def code_made() -> set[str]:
        return {row["name"] for row in web.api("GET", "/api/schedules/?source=code")["results"]}

    # the beats make the app's own beat_schedule entries schedules at start
    wait_until(lambda: code_made() == {"invoices-nightly", "payments-every-15-minutes"}, timeout=30, interval=0.2)

    invoices = web.api("POST", "/api/schedules/", {
        "name": "invoices", "job": "billing.tasks.send_invoices", "interval_seconds": 1, "overlap_policy": "allow",
        "params": {"args": [CUSTOMER], "kwargs": {"dry_run": True}},
    })  # fmt: skip
    payments = web.api("POST", "/api/schedules/", {
        "name": "payments", "job": "billing.tasks.sync_payments", "interval_seconds": 1, "overlap_policy": "allow",
        "max_concurrency": 1, "params": {"args": [PROVIDER], "kwargs": {"seconds": 1.2}},
    })  # fmt: skip
    flaky = web.api("POST", "/api/schedules/", {
        "name": "payments-flaky", "job": "billing.tasks.sync_payments", "cron": "0 0 1 1 *",
        "params": {"args": ["flaky-pay"], "kwargs": {"unavailable_once": True}},
    })  # fmt: skip
    retried = web.api("POST", f"/api/schedules/{flaky['id']}/run-now/")

    def enough() -> bool:
        done = [o for o in history(web, invoices["id"]) if o["run"] and o["run"]["status"] == "succeeded"]
        return len(done) >= 5 and len(history(web, payments["id"])) >= 4

    wait_until(enough, timeout=60, interval=0.5, message="five invoice runs and four payment occurrences")
    for schedule in (invoices, payments):
        web.api("POST", f"/api/schedules/{schedule['id']}/disable/")  # as an operator would, beats still running

    def all_final() -> list[dict[str, Any]] | None:
        occurrences = [o for s in (invoices, payments, flaky) for o in history(web, s["id"])]
        return occurrences if all(o["run"] and o["run"]["status"] in FINAL for o in occurrences) else None

    wait_until(all_final, timeout=90, interval=0.5, message="every run to end")
    events_path = host.folder / "var" / "ostinato" / "logs" / "orchestrator_state.jsonl"  # the default EVENTS_PATH

    # Exactly once: every second from the first occurrence to the last, one occurrence, one run, one call.
    for schedule in (invoices, payments):
        occurrences = history(web, schedule["id"])
        times = sorted(datetime.fromisoformat(o["scheduled_for"]) for o in occurrences)
        expected = [times[0] + timedelta(seconds=i) for i in range(int((times[-1] - times[0]).total_seconds()) + 1)]
        assert times == expected, f"{schedule['name']}: each second once, none missing"
        assert {(o["status"], o["run"]["status"]) for o in occurrences} == {("dispatched", "succeeded")}
    invoice_runs = {o["run"]["id"] for o in history(web, invoices["id"])}
    calls = host.sql(f"SELECT task_id, dry_run, app_name FROM billing_invoicebatch WHERE customer_id = {CUSTOMER}")
    assert Counter(task_id for task_id, *_ in calls) == Counter(invoice_runs), "one call per run, nothing else"
    assert {tuple(rest) for _, *rest in calls} == {(True, "hostsite")}, "its args and kwargs, in the host's app"

    # The limit: the payment runs (1.2 s each, due every second) waited for each other, never two at once.
    payment_runs = {o["run"]["id"] for o in history(web, payments["id"])}
    synced = host.sql(
        "SELECT task_id, retries, outcome, app_name, started_at, finished_at FROM billing_paymentsync"
        f" WHERE provider = '{PROVIDER}'"
    )
    assert Counter(row[0] for row in synced) == Counter(payment_runs)
    assert {row[1:4] for row in synced} == {(0, "synced", "hostsite")}, "self.app is the host's app"
    assert peak_overlap([(row[4], row[5]) for row in synced]) == 1
    runs = [o["run"] for o in history(web, payments["id"])]
    assert (
        peak_overlap(
            [(datetime.fromisoformat(r["started_at"]), datetime.fromisoformat(r["finished_at"])) for r in runs]
        )
        == 1
    )
    waited = [e for e in events.iter_events(events_path) if e.get("event") == "run_waiting"]
    assert waited and {e["run_id"] for e in waited} <= payment_runs
    assert all("schedule payments max_concurrency=1" in e["reason"] for e in waited)

    # self.retry(): the same run's second attempt, under the task id Celery gives a retry.
    [flaky_run] = [o["run"] for o in history(web, flaky["id"])]
    assert flaky_run["id"] == retried["id"] and (flaky_run["status"], flaky_run["attempt"]) == ("succeeded", 2)
    attempts = host.sql(
        "SELECT task_id, retries, outcome FROM billing_paymentsync WHERE provider = 'flaky-pay' ORDER BY retries"
    )
    assert attempts == [(flaky_run["id"], 0, "retrying"), (f"{flaky_run['id']}.1", 1, "synced")]

    # Records: every run's start and end in the event log; the worker logs each task's own name with the run id.
    logged = list(events.iter_events(events_path))
    for run_id in invoice_runs | payment_runs:
        mine = [e["event"] for e in logged if e.get("run_id") == run_id and e["event"] != "run_waiting"]
        assert mine == ["schedule_enqueued", "run_started", "run_finished"], (run_id, mine)
    mine = [e["event"] for e in logged if e.get("run_id") == flaky_run["id"]]
    assert mine == ["schedule_enqueued", "run_started", "run_retried", "run_started", "run_finished"], mine
    worker_log = worker.output()
    for run_id in invoice_runs:
        assert f"Task billing.tasks.send_invoices[{run_id}] succeeded" in worker_log
    for run_id in payment_runs:
        assert f"Task billing.tasks.sync_payments[{run_id}] received" in worker_log

    # The operator's views: the jobs in the API, the schedules page (shipped templates, the admin's login).
    jobs = {job["key"]: job for job in web.api("GET", "/api/jobs/")["results"]}
    assert (jobs["billing.tasks.send_invoices"]["kind"], jobs["billing.tasks.send_invoices"]["queue"]) == (
        "celery_task",
        "celery",
    )
    assert (jobs["billing.tasks.sync_payments"]["kind"], jobs["billing.tasks.sync_payments"]["queue"]) == (
        "celery_task",
        "payments",
    ), "the queue of the host's CELERY_TASK_ROUTES"
    status, page = web.log_in("ops", PASSWORD, "/schedules/")
    assert status == 200 and "invoices" in page and "payments-flaky" in page
    assert 'action="/admin/logout/" class="logout"' in page

    node = worker_name.replace("%h", socket.gethostname())
    replies = host.run("-m", "celery", "-A", "hostsite", "inspect", "runs", "-d", node, "--timeout", "10")
    assert f"{node}: OK" in replies, replies  # the command the host's celery.py installs (extensions.install)

    assert all(proc.alive() for proc in (worker, *beats)), "Django's default LOGGING: no crash at start or later"
    assert sha256(TASKS) == TASKS_SHA256 == sha256(host.folder / "billing" / "tasks.py"), "task code untouched"
