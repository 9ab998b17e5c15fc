"""Guards in real runs: a refused file or host fails the run with the reason and an ``access_denied`` event."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from orchestrator import events
from orchestrator.models import Job
from scheduling.surfaces.actions import run_now
from tests import factories
from tests.helpers import wait_finished, wait_ready

QUIET_LOG = "2026-11-23 10:00:00 INFO started\n2026-11-23 10:00:01 WARNING slow\n"
ERROR_LOG = QUIET_LOG + "2026-11-23 10:00:02 ERROR disk full\n"


def _triage(name: str, path: str):
    return run_now(factories.schedule("log_triage", name=name, kind="cron", cron="0 3 1 1 *", params={"path": path}))


def _denied(run_id: str) -> list[dict]:
    return [
        event
        for event in events.iter_events(settings.EVENTS_PATH)
        if event.get("event") == events.ACCESS_DENIED and event.get("run_id") == run_id
    ]


def test_log_triage_reads_only_under_log_roots(live, tmp_path: Path):
    root, other, outside = tmp_path / "logs", tmp_path / "more-logs", tmp_path / "secret"
    for folder in (root, other, outside):
        folder.mkdir()
    (root / "app.log").write_text(QUIET_LOG)
    (other / "b.log").write_text(QUIET_LOG)
    (outside / "keys.log").write_text(QUIET_LOG)
    (root / "escape.log").symlink_to(outside / "keys.log")  # a link inside a root pointing out of every root
    (root / "sub").symlink_to(outside, target_is_directory=True)
    (root / "to-other.log").symlink_to(other / "b.log")  # a link into another root is fine
    registry_job = Job.objects.filter(key="log_triage")
    registry_job.update(max_retries=2)  # a refusal is not retried: it would be refused again
    env = {"LOG_ROOTS": f"{root},{other}"}
    wait_ready(live.worker(concurrency=2, env=env))

    refused = {
        "dotdot": (f"{root}/../secret/keys.log", "is outside the allowed folders"),
        "elsewhere": (str(outside / "keys.log"), "is outside the allowed folders"),
        "symlink": (str(root / "escape.log"), "is outside the allowed folders"),
        "symlink-dir": (str(root / "sub" / "keys.log"), "is outside the allowed folders"),
        "absolute": ("/etc/hostname", "is outside the allowed folders"),
    }
    allowed = {"plain": str(root / "app.log"), "second-root": str(other / "b.log"), "link": str(root / "to-other.log")}
    runs = {name: _triage(name, path) for name, (path, _reason) in refused.items()}
    runs |= {name: _triage(name, path) for name, path in allowed.items()}

    for name, (path, reason) in refused.items():
        run = wait_finished(runs[name])
        assert run.status == "failed" and run.attempt == 1, (name, run.status, run.attempt)
        first_line = run.error.splitlines()[0]
        assert first_line.startswith("PathNotAllowed: ") and path in first_line, (name, first_line)
        assert reason in first_line and "see LOG_ROOTS" in first_line, (name, first_line)
        denied = _denied(str(run.id))
        assert len(denied) == 1 and denied[0]["setting"] == "LOG_ROOTS" and reason in denied[0]["error"], name
    for name in allowed:
        run = wait_finished(runs[name])
        assert run.status == "succeeded" and run.result["lines"] == 2, (name, run.status, run.error)
        assert not _denied(str(run.id))


def test_a_model_host_outside_loopback_is_refused_with_an_event(live, tmp_path: Path):
    log = tmp_path / "app.log"
    log.write_text(ERROR_LOG)
    wait_ready(live.worker(concurrency=1, env={"LLM_BASE_URL": "http://198.51.100.20:8080/v1"}))
    run = wait_finished(_triage("model-elsewhere", str(log)))
    assert run.status == "failed" and "198.51.100.20 is not a loopback address" in run.error
    denied = _denied(str(run.id))
    assert len(denied) == 1 and denied[0]["setting"] == "LLM_ALLOWED_HOSTS"
    assert "refusing to connect to '198.51.100.20'" in denied[0]["error"]
