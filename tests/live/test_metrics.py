"""Prometheus metrics from real beat, worker and gunicorn processes sharing one multiprocess folder."""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.db.models import Sum
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from orchestrator.models import FINAL_STATUSES, Run
from scheduling.models import OccurrenceStatus, Schedule, ScheduledRun
from scheduling.ops import metrics
from scheduling.surfaces.actions import run_now
from tests import factories
from tests.helpers import wait_ready
from tests.processes import free_port, wait_until
from tests.webserver import get, start_web

TOKEN = "metrics-test-token"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, metric: str, /, **labels: str) -> float | None:
    return samples.get((metric, frozenset(labels.items())))


#: Seconds from a tick's clock reading to the end of its publish, at most, in these small ticks.
PUBLISH_SLACK = 1.0


def _lags(**filters: Any) -> list[float]:
    """Dispatch lags of the scheduled occurrences matching ``filters``, from their rows."""
    rows = ScheduledRun.objects.filter(status=OccurrenceStatus.DISPATCHED, trigger="schedule", **filters)
    return [
        (row.dispatched_at - row.scheduled_for).total_seconds()
        for row in rows
        if row.dispatched_at and row.scheduled_for
    ]


def _count(rows: Iterable[float], bound: float) -> int:
    return sum(1 for lag in rows if lag <= bound)


def test_metrics_show_runs_lag_skips_misses_queues_and_limit_slots(live, redis_db, tmp_path: Path):
    folder = tmp_path / "metrics"
    folder.mkdir()
    worker_port, beat_port = free_port(), free_port()
    shared = {"PROMETHEUS_MULTIPROC_DIR": str(folder), "METRICS_TOKEN": TOKEN}
    worker = live.worker(concurrency=3, env={**shared, "METRICS_PORT": str(worker_port)})
    wait_ready(worker)
    beat = live.beat(env={**shared, "METRICS_PORT": str(beat_port)})
    wait_ready(beat)
    base = start_web(live, env=shared)

    ok = factories.schedule("noop", name="ok", interval_seconds=1)
    broken = factories.schedule("fail", name="broken", interval_seconds=1)
    busy = factories.schedule("sleep", name="busy", interval_seconds=1, params={"seconds": 2})
    late = factories.schedule("noop", name="late", interval_seconds=10, misfire_policy="skip", overlap_policy="allow")
    past = timezone.now() - timedelta(seconds=65)
    Schedule.objects.filter(pk=late.pk).update(next_run_at=past, due_at=past)
    parked = factories.schedule(
        "log_triage", name="parked", kind="cron", cron="0 0 1 1 *", params={"path": "configs/samples/app.log"}
    )
    factories.job("log_triage", queue="parked")  # no worker serves this queue
    parked.refresh_from_db()
    run_now(parked)

    wait_until(
        lambda: (
            Run.objects.filter(occurrence__schedule=ok, status="succeeded").count() >= 4
            and Run.objects.filter(occurrence__schedule=broken, status="failed").count() >= 2
            and ScheduledRun.objects.filter(schedule=busy, status=OccurrenceStatus.SKIPPED).exists()
            and ScheduledRun.objects.filter(schedule=late, status=OccurrenceStatus.MISSED).exists()
        ),
        timeout=60,
        message="runs, failures, a skip and a miss",
    )
    status, text = get(f"http://127.0.0.1:{beat_port}/metrics")  # the beat's own exporter
    assert status == 200 and (value(parse(text), "ostinato_dispatch_lag_seconds_count", queue="default") or 0) >= 4
    beat.stop()
    wait_until(
        lambda: not Run.objects.exclude(status__in=FINAL_STATUSES).exclude(occurrence__schedule=parked).exists(),
        timeout=30,
        message="every run to end",
    )
    now_ms = int(time.time() * 1000)
    redis_db.zadd("ostinato:limit:job:sleep", {"r1": now_ms + 60_000, "r2": now_ms + 60_000, "gone": now_ms - 1})
    redis_db.zadd("ostinato:limit:global", {"r1": now_ms + 60_000})

    assert get(f"{base}/metrics")[0] == 401
    assert get(f"{base}/metrics", headers={"Authorization": "Bearer wrong"})[0] == 401
    status, text = get(f"{base}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert status == 200, text
    samples = parse(text)

    for job, state in (("noop", "succeeded"), ("fail", "failed"), ("sleep", "succeeded")):
        expected = Run.objects.filter(job__key=job, status=state).count()
        assert expected > 0
        assert value(samples, "ostinato_runs_finished_total", job=job, status=state) == expected, (job, state)

    # the rows' lags run to the tick's clock reading (dispatched_at); the histogram's to the publish
    # that followed it, a few milliseconds later, never earlier and never by PUBLISH_SLACK or more
    lags = _lags(schedule__job__queue="default")  # ok, broken, busy and late: all on that queue
    assert len(lags) >= len(_lags(schedule=ok)) + len(_lags(schedule=broken)) >= 6
    assert value(samples, "ostinato_dispatch_lag_seconds_count", queue="default") == len(lags)
    lag_sum = value(samples, "ostinato_dispatch_lag_seconds_sum", queue="default")
    assert sum(lags) - 1e-3 <= lag_sum < sum(lags) + PUBLISH_SLACK * len(lags)
    for bound in metrics.LAG_BUCKETS:
        bucket = value(samples, "ostinato_dispatch_lag_seconds_bucket", queue="default", le=str(bound))
        assert _count(lags, bound - PUBLISH_SLACK) <= bucket <= _count(lags, bound), bound
    assert value(samples, "ostinato_dispatch_lag_seconds_bucket", queue="default", le="+Inf") == len(lags)
    assert value(samples, "ostinato_dispatch_lag_seconds_count", queue="parked") is None, "run-now is no dispatch"

    skipped = ScheduledRun.objects.filter(schedule=busy, status=OccurrenceStatus.SKIPPED).count()
    assert value(samples, "ostinato_occurrences_skipped_total", schedule="busy", reason="overlap_skip") == skipped
    missed = ScheduledRun.objects.filter(schedule=late, status=OccurrenceStatus.MISSED).aggregate(n=Sum("missed_count"))
    assert value(samples, "ostinato_occurrences_missed_total", schedule="late", reason="misfire_skip") == missed["n"]

    assert value(samples, "ostinato_queue_depth", queue="parked") == 1
    assert value(samples, "ostinato_queue_depth", queue="default") == 0
    assert value(samples, "ostinato_runs_active", job="log_triage", status="queued") == 1
    assert value(samples, "ostinato_limit_slots_in_use", scope="job", name="sleep") == 2
    assert value(samples, "ostinato_limit_slots_in_use", scope="job", name="noop") == 0
    assert value(samples, "ostinato_limit_slots_in_use", scope="global", name="global") == 1
    assert value(samples, "ostinato_event_log_write_failures_total") == 0
    assert value(samples, "ostinato_metrics_source_up", source="redis") == 1
    assert value(samples, "ostinato_metrics_source_up", source="database") == 1

    # The worker's own exporter serves the same folder (no state metrics: the web reports those once).
    status, text = get(f"http://127.0.0.1:{worker_port}/metrics")
    assert status == 200
    from_worker = parse(text)
    assert value(from_worker, "ostinato_runs_finished_total", job="fail", status="failed") == (
        Run.objects.filter(job__key="fail", status="failed").count()
    )
    assert not any(name == "ostinato_queue_depth" for name, _ in from_worker)
