"""``manage.py smoke`` against a live deployment: gunicorn, a real beat and a real worker."""

from __future__ import annotations

import subprocess

from django.contrib.auth.models import User

from scheduling.models import Schedule
from scheduling.surfaces.api.tokens import ApiToken
from tests.helpers import wait_ready
from tests.processes import PYTHON, ROOT, Processes
from tests.webserver import start_web


def _smoke(live: Processes, base: str, token: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "manage.py", "smoke", "--base-url", base, "--token", token, *extra],
        cwd=ROOT,
        env=live.env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def test_smoke_passes_then_fails_clearly_without_a_worker(live):
    _token, token = ApiToken.objects.issue(User.objects.create_superuser("smoke", password="pw-smoke-1"))
    base = start_web(live)
    wait_ready(live.beat())
    worker = live.worker(concurrency=3)
    wait_ready(worker)

    passed = _smoke(live, base, token, "--timeout", "120")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    lines = passed.stdout.splitlines()
    for step in (
        "API answers",
        "temporary schedule created",
        "schedule fired by itself and succeeded",
        "run-now produced a second run that succeeded",
        "max_concurrency=1 held: runs never overlapped",
    ):
        assert any(step in line and " ok " in line and line.startswith("[") for line in lines), (step, passed.stdout)
    assert sum("cleanup: schedule" in line and "removed" in line for line in lines) == 2
    assert lines[-1] == "smoke test passed"
    assert not Schedule.objects.filter(name__startswith="smoke-").exists()

    worker.stop()
    failed = _smoke(live, base, token, "--timeout", "8")
    assert failed.returncode != 0
    assert "FAIL" in failed.stdout and "schedule fired by itself and succeeded" in failed.stdout
    assert "is a worker serving queue 'default'?" in failed.stderr, failed.stderr
    assert "cleanup: schedule" in failed.stdout and "removed" in failed.stdout
    assert not Schedule.objects.filter(name__startswith="smoke-").exists(), "cleaned up after the failure too"


def test_smoke_refuses_a_bad_token_and_a_bad_url(live):
    base = start_web(live)
    bad = _smoke(live, base, "not-a-token", "--timeout", "10")
    assert bad.returncode != 0 and "API answers" in bad.stdout and "401" in bad.stderr
    url = _smoke(live, "ftp://example", "t")
    assert url.returncode != 0 and "expected http(s)://host[:port]" in url.stderr
