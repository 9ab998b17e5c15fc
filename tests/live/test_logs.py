"""Logs are structured: one JSON object a line (LOG_FORMAT=json) carrying the event log's keys and values."""

from __future__ import annotations

import json
from collections import defaultdict

from django.conf import settings

from orchestrator import events
from orchestrator.models import Run
from tests import factories
from tests.helpers import wait_ready, wait_recorded
from tests.processes import wait_until

KEYS = ("event", "schedule_id", "run_id", "scheduled_for")


def _json_lines(text: str) -> list[dict]:
    records = []
    for line in text.splitlines():
        if line.startswith("{"):
            records.append(json.loads(line))  # a line that starts like JSON must be whole JSON
    return records


def test_worker_and_beat_log_one_json_line_per_event_with_the_event_log_values(live):
    env = {"LOG_FORMAT": "json"}
    worker = live.worker(env=env)
    wait_ready(worker)
    beat = live.beat(env=env)
    wait_ready(beat)
    schedule = factories.schedule("noop", name="logged", interval_seconds=1)
    wait_until(lambda: Run.objects.filter(occurrence__schedule=schedule, status="succeeded").count() >= 3, timeout=30)
    beat.stop()
    wait_until(lambda: not Run.objects.filter(status__in=("pending", "queued", "running")).exists(), timeout=20)

    runs = Run.objects.filter(occurrence__schedule=schedule, status="succeeded")
    for run in runs:
        wait_recorded(run)  # a run's run_finished (and its log line) follows its committed end

    def logged_lines() -> dict[tuple[str, str], dict]:
        found: dict[tuple[str, str], dict] = {}
        for record in _json_lines(worker.output()) + _json_lines(beat.output()):
            assert {"ts", "level", "logger", "message"} <= set(record)
            if record.get("event") and record.get("run_id"):
                found[(record["event"], record["run_id"])] = record
        return found

    logged = wait_until(
        lambda: (found := logged_lines()) and all(("run_finished", str(run.pk)) in found for run in runs) and found,
        timeout=10,
        message="each run's run_finished log line",
    )

    stored: dict[str, dict[str, dict]] = defaultdict(dict)
    for event in events.iter_events(settings.EVENTS_PATH):
        if event.get("run_id"):
            stored[event["run_id"]][event["event"]] = event
    for run in runs:
        for name in ("schedule_enqueued", "run_started", "run_finished"):
            line = logged.get((name, str(run.pk)))
            assert line is not None, f"no {name} log line for run {run.pk}"
            event = stored[str(run.pk)][name]
            for key in KEYS:
                assert line[key] == event[key], (name, key, line, event)
        assert logged[("run_finished", str(run.pk))]["status"] == "succeeded"
        assert logged[("schedule_enqueued", str(run.pk))]["logger"] == "scheduling.ops.observe"
