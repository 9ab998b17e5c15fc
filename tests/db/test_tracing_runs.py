"""Tracing in-process against PostgreSQL and Redis: what the dispatch, a run now and a buffered release write.

Spans go to an in-memory exporter of a provider of the test's own (see ``tests/unit/test_tracing.py``).
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from orchestrator import tracing
from orchestrator.models import Run
from scheduling.engine import buffered, dispatch
from scheduling.models import OccurrenceStatus, Schedule, ScheduledRun
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)

NOW = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)
EARLIER = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.fixture
def spans(settings, monkeypatch):
    settings.SCHEDULER_TRACING = "otel"
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(tracing, "_tracer", provider.get_tracer("test"))
    return exporter


def named(exporter: InMemorySpanExporter, name: str) -> list:
    return [span for span in exporter.get_finished_spans() if span.name == name]


def header(redis_db, queue: str = "default") -> str:
    return json.loads(redis_db.lindex(queue, 0))["headers"]["traceparent"]


def test_a_dispatched_run_keeps_its_trace_and_its_message_names_the_publish(spans, redis_db):
    schedule = factories.schedule("noop", interval_seconds=60)
    Schedule.objects.filter(pk=schedule.pk).update(next_run_at=NOW, due_at=NOW)
    assert dispatch.dispatch_due(NOW + timedelta(seconds=2)).published == 1
    [run] = Run.objects.all()
    [root] = named(spans, "ostinato.dispatch")
    [publish] = named(spans, "ostinato.publish")
    assert run.traceparent == tracing.traceparent_of(root) and root.parent is None
    assert root.attributes["ostinato.lateness_ms"] == 2000
    assert root.attributes["ostinato.scheduled_for"] == "2026-11-23T12:00:00.000Z"
    assert publish.parent.span_id == root.context.span_id
    assert header(redis_db) == tracing.traceparent_of(publish)
    body = json.loads(base64.b64decode(json.loads(redis_db.lindex("default", 0))["body"]))
    assert body[0] == [str(run.id), 0]


def test_tracing_off_writes_no_traceparent_and_no_header(redis_db):
    schedule = factories.schedule("noop", interval_seconds=60)
    Schedule.objects.filter(pk=schedule.pk).update(next_run_at=NOW, due_at=NOW)
    dispatch.dispatch_due(NOW)
    [run] = Run.objects.all()
    assert run.traceparent == ""
    assert "traceparent" not in json.loads(redis_db.lindex("default", 0))["headers"]


def test_a_released_buffered_occurrence_starts_a_trace_linked_to_the_run_it_waited_for(spans, redis_db):
    schedule = factories.schedule("noop", interval_seconds=60, overlap_policy="buffer_one")
    earlier = Run.objects.create(
        job=schedule.job, trigger="schedule", status="succeeded", created_at=NOW, traceparent=EARLIER
    )
    ScheduledRun.objects.create(schedule=schedule, scheduled_for=NOW, status=OccurrenceStatus.DISPATCHED, run=earlier)
    ScheduledRun.objects.create(
        schedule=schedule, scheduled_for=NOW + timedelta(minutes=1), status=OccurrenceStatus.BUFFERED
    )
    [released] = buffered.release_buffered(NOW + timedelta(minutes=2))
    [root] = named(spans, "ostinato.release")
    assert root.parent is None and f"{root.context.trace_id:032x}" != EARLIER.split("-")[1]
    assert [(f"{link.context.trace_id:032x}", f"{link.context.span_id:016x}") for link in root.links] == [
        tuple(EARLIER.split("-")[1:3])
    ]
    assert Run.objects.get(id=released.id).traceparent == tracing.traceparent_of(root)
    [publish] = named(spans, "ostinato.publish")
    assert publish.parent.span_id == root.context.span_id


def test_a_run_now_starts_at_create(spans, redis_db):
    from scheduling.surfaces.actions import run_now

    schedule = factories.schedule("noop", interval_seconds=60)
    run = run_now(schedule)
    [root] = named(spans, "ostinato.create")
    assert Run.objects.get(id=run.id).traceparent == tracing.traceparent_of(root)
    assert root.attributes["ostinato.trigger"] == "manual" and "ostinato.lateness_ms" not in root.attributes
