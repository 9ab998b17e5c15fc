"""Traces with real beat and worker processes (``SCHEDULER_TRACING=otel``), written to a JSON-lines file.

Every process writes its spans to the same file (``SCHEDULER_TRACING_FILE``, one line a span, each
written when the span ends); the tests read the trace of one run back from it.
"""

from __future__ import annotations

import functools
import json
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from orchestrator.models import Run
from tests import factories
from tests.helpers import QUICK, wait_ready
from tests.processes import wait_until


@pytest.fixture
def spans_file(tmp_path: Path) -> Path:
    return tmp_path / "spans.jsonl"


def tracing_env(path: Path) -> dict[str, str]:
    return {
        **QUICK,
        "SCHEDULER_TRACING": "otel",
        "OTEL_TRACES_EXPORTER": "none",  # only the file: no collector in the tests
        "SCHEDULER_TRACING_FILE": str(path),
        "OTEL_SERVICE_NAME": "ostinato-test",
    }


def read_spans(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def spans_of(path: Path, run: Run, name: str) -> list[dict]:
    return [s for s in read_spans(path) if s["name"] == name and s["attributes"].get("ostinato.run.id") == str(run.id)]


def soon() -> datetime:
    return timezone.now() + timedelta(seconds=1)


def parts(traceparent: str) -> tuple[str, str]:
    """(trace id, span id) of a W3C traceparent."""
    _, trace_id, span_id, _ = traceparent.split("-")
    return trace_id, span_id


def test_one_run_is_one_trace_dispatch_publish_execute(live, spans_file):
    env = tracing_env(spans_file)
    wait_ready(live.worker(env=env))
    beat = live.beat(env=env)
    wait_ready(beat)
    schedule = factories.schedule("noop", interval_seconds=1)
    wait_until(lambda: Run.objects.filter(status="succeeded").count() >= 2, timeout=30, message="two runs")
    beat.stop()
    runs = list(Run.objects.filter(occurrence__schedule=schedule, status="succeeded"))

    for run in runs:
        executed = functools.partial(spans_of, spans_file, run, "ostinato.execute")
        wait_until(executed, timeout=10, message="its execute")
        [dispatch] = spans_of(spans_file, run, "ostinato.dispatch")
        [publish] = spans_of(spans_file, run, "ostinato.publish")
        [execute] = spans_of(spans_file, run, "ostinato.execute")
        # the root of its own trace, kept on the run row
        assert dispatch["parent_span_id"] is None
        assert run.traceparent and parts(run.traceparent) == (dispatch["trace_id"], dispatch["span_id"])
        assert dispatch["attributes"]["ostinato.schedule.id"] == schedule.pk
        assert dispatch["attributes"]["ostinato.schedule.name"] == schedule.name
        assert dispatch["attributes"]["ostinato.trigger"] == "schedule"
        assert dispatch["attributes"]["ostinato.scheduled_for"].endswith("Z")
        assert isinstance(dispatch["attributes"]["ostinato.lateness_ms"], int)
        # the publish, its child; the worker's execution, the publish's child (through the message)
        assert publish["trace_id"] == execute["trace_id"] == dispatch["trace_id"]
        assert publish["parent_span_id"] == dispatch["span_id"]
        assert execute["parent_span_id"] == publish["span_id"]
        assert execute["attributes"]["ostinato.outcome"] == "succeeded"
        assert execute["attributes"]["ostinato.schedule.name"] == schedule.name
        assert execute["pid"] != dispatch["pid"] and dispatch["service"] == "ostinato-test"
    # each occurrence its own trace: the beat's loop is never one trace
    assert len({parts(run.traceparent)[0] for run in runs}) == len(runs) >= 2


def test_a_recovery_republish_continues_the_runs_trace(live, spans_file, redis_db):
    env = tracing_env(spans_file)
    wait_ready(live.worker(env=env))
    crashing = live.beat("beat-crashing", env={**env, "SCHEDULER_FAULT_CRASH_AFTER_COMMIT": "1"})
    wait_ready(crashing)
    schedule = factories.schedule("noop", interval_seconds=1)
    crashing.popen.wait(timeout=30)
    assert crashing.popen.returncode == 17, crashing.tail()
    [orphan] = Run.objects.filter(occurrence__schedule=schedule)
    assert orphan.status == "pending" and orphan.traceparent, "committed with its trace, never published"
    trace_id, dispatch_span_id = parts(orphan.traceparent)

    wait_ready(live.beat(env=env))
    wait_until(lambda: Run.objects.filter(id=orphan.id, status="succeeded").exists(), timeout=30, message="recovery")
    wait_until(lambda: spans_of(spans_file, orphan, "ostinato.execute"), timeout=10, message="its execute")
    [publish] = spans_of(spans_file, orphan, "ostinato.publish")
    [execute] = spans_of(spans_file, orphan, "ostinato.execute")
    # the beat died before its dispatch span ended; the recovering beat's publish continues its trace
    assert (publish["trace_id"], publish["parent_span_id"]) == (trace_id, dispatch_span_id)
    assert publish["attributes"]["ostinato.recovered"] is True
    assert (execute["trace_id"], execute["parent_span_id"]) == (trace_id, publish["span_id"])


def test_a_retry_is_a_trace_of_its_own_linked_to_the_runs(live, spans_file):
    env = {**tracing_env(spans_file), "SCHEDULER_RETRY_BACKOFF_SECONDS": "0.5"}
    factories.job("fail", max_retries=1)
    wait_ready(live.worker(env=env))
    wait_ready(live.beat(env=env))
    schedule = factories.schedule("fail", kind="once", run_at=soon(), params={"times": 1})
    succeeded = Run.objects.filter(occurrence__schedule=schedule, status="succeeded")
    run = wait_until(succeeded.first, timeout=40, message="the retry to succeed")
    assert run.attempt == 2
    wait_until(lambda: len(spans_of(spans_file, run, "ostinato.execute")) == 2, timeout=10, message="two executions")
    trace_id, dispatch_span_id = parts(run.traceparent)
    first, retry = sorted(spans_of(spans_file, run, "ostinato.publish"), key=lambda s: s["start_ns"])
    assert (first["trace_id"], first["parent_span_id"]) == (trace_id, dispatch_span_id)
    assert retry["trace_id"] != trace_id and retry["parent_span_id"] is None
    assert retry["links"] == [{"trace_id": trace_id, "span_id": dispatch_span_id}]
    failed, passed = sorted(spans_of(spans_file, run, "ostinato.execute"), key=lambda s: s["start_ns"])
    assert failed["trace_id"] == trace_id and failed["status"] == "ERROR"
    assert (passed["trace_id"], passed["parent_span_id"]) == (retry["trace_id"], retry["span_id"])


def test_celerys_own_instrumentation_nests_under_ours(live, spans_file):
    """With opentelemetry-instrumentation-celery (``opentelemetry-instrument``), its publish and run spans sit
    between our publish and our execution, in the same trace: nothing is duplicated or cut off."""
    env = {**tracing_env(spans_file), "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "redis,psycopg,django,requests"}
    instrument = str(Path(sys.executable).parent / "opentelemetry-instrument")  # the dev extra installs it
    worker = live.start(
        "worker",
        [instrument, *_celery("worker", "-Q", "default", "-c", "1", "--without-gossip", "--without-mingle")],
        env=env,
    )
    wait_ready(worker)
    beat = live.start("beat", [instrument, *_celery("beat", "--pidfile=")], env=env)
    wait_ready(beat)
    schedule = factories.schedule("noop", kind="once", run_at=soon())
    succeeded = Run.objects.filter(occurrence__schedule=schedule, status="succeeded")
    run = wait_until(succeeded.first, timeout=30, message="the run")
    wait_until(lambda: spans_of(spans_file, run, "ostinato.execute"), timeout=10, message="its execute")
    [publish] = spans_of(spans_file, run, "ostinato.publish")
    [execute] = spans_of(spans_file, run, "ostinato.execute")
    by_id = {s["span_id"]: s for s in read_spans(spans_file) if s["trace_id"] == publish["trace_id"]}
    celery_run = by_id[execute["parent_span_id"]]
    assert celery_run["name"] == "run/workers.run"
    celery_publish = by_id[celery_run["parent_span_id"]]
    assert celery_publish["name"] == "apply_async/workers.run"
    assert celery_publish["parent_span_id"] == publish["span_id"]


def _celery(*args: str) -> list[str]:
    return [sys.executable, "-m", "celery", "-A", "project", *args, "-l", "info"]
