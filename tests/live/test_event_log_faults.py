"""An event log that cannot be written: runs go on, the failure is logged and counted, writing resumes.

Two faults: a file size limit reached in the middle of a write (``RLIMIT_FSIZE`` in a child
process: the kernel writes what fits, then refuses; the same short write a full disk gives), and
a worker whose event log path cannot be created (its folder is a file) until the obstacle goes.
"""

from __future__ import annotations

import json
from pathlib import Path

from prometheus_client import CollectorRegistry, multiprocess

from orchestrator import service
from orchestrator.models import Run, RunTrigger
from tests import factories
from tests.helpers import wait_finished, wait_ready
from tests.processes import wait_until


def write_failures_counted(folder: Path) -> float:
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(folder))
    return sum(
        sample.value
        for metric in registry.collect()
        for sample in metric.samples
        if sample.name == "ostinato_event_log_write_failures_total"
    )


def test_a_worker_that_cannot_write_its_event_log_still_runs_and_records_everything(live, tmp_path: Path):
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the event log's folder should be\n")
    worker_log = blocked / "events.jsonl"
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    env = {"EVENTS_PATH": str(worker_log), "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    worker = live.worker(concurrency=2, env=env)
    wait_ready(worker)
    job = factories.job("noop")

    def run_some(count: int) -> list[Run]:
        runs = [service.create_run(service.RunRequest(job=job, trigger=RunTrigger.API)) for _ in range(count)]
        return [wait_finished(run, timeout=60, recorded=False) for run in runs]  # its log is elsewhere

    while_blocked = run_some(3)
    failures = write_failures_counted(metrics_dir)
    logged = worker.output().count("could not write 1 event(s) to the event log")
    blocked.unlink()  # the obstacle goes: the next events are written
    after = run_some(2)

    def written_events() -> list[dict]:
        lines = worker_log.read_text().splitlines() if worker_log.exists() else []
        return [json.loads(line) for line in lines]

    # run_finished is appended just after the run's end is committed, which wait_finished sees
    wait_until(lambda: len(written_events()) >= 4, timeout=10, message="the last runs' events")
    written = written_events()
    print(
        f"\nunwritable event log: {len(while_blocked)} runs {[r.status for r in while_blocked]}, "
        f"{failures:.0f} failed writes counted, {logged} logged; after: {len(written)} events written"
    )
    assert [r.status for r in while_blocked + after] == ["succeeded"] * 5
    assert failures >= 6 and logged >= 6, "run_started and run_finished of each run, counted and logged"
    for run in after:
        assert [e["event"] for e in written if e.get("run_id") == str(run.id)] == ["run_started", "run_finished"]
    assert not any(e.get("run_id") == str(run.id) for run in while_blocked for e in written)
