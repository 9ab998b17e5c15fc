"""``orchestrator.tracing``: off by default and import-free, the traceparent round trip, and the spans' shape.

Spans go to an in-memory exporter of a provider of the test's own (no global provider is set).
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from orchestrator import tracing
from orchestrator.snapshots import PlannedRun
from orchestrator.tracing_file import JsonLinesExporter

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 3, 1, 12, 0, 5, tzinfo=UTC)
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.fixture
def spans(settings, monkeypatch):
    """Tracing on, into memory: the finished spans, as the exporter got them."""
    settings.SCHEDULER_TRACING = "otel"
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(tracing, "_tracer", provider.get_tracer("test"))
    return exporter


def planned(*, attempt: int = 0, scheduled_for: str | None = "2026-03-01T12:00:00.000Z") -> PlannedRun:
    schedule = {"id": 7, "name": "nightly", "tenant": "", "scheduled_for": scheduled_for}
    return PlannedRun(
        id=uuid.uuid4(),
        job_id=1,
        trigger="schedule",
        directive_snapshot={"job": {"key": "noop"}, "schedule": schedule},
        created_at=NOW,
        attempt=attempt,
    )


def test_tracing_is_off_by_default(settings):
    assert settings.SCHEDULER_TRACING == ""
    assert not tracing.enabled()
    runs = [planned(), planned()]
    traced, begun = tracing.begin(runs, now=NOW)
    assert traced == runs and begun.spans == []
    assert all(run.traceparent == "" for run in traced)


def test_nothing_of_opentelemetry_is_imported_by_the_apps_while_tracing_is_off():
    """As if the ``otel`` extra were not installed: every import of it fails, and none comes from the apps.

    (redis-py itself tries ``opentelemetry.sdk.metrics`` at import and carries on without it.)
    """
    code = """
import sys, traceback
ROOT = sys.argv[1]
tried_by_apps = []
class Absent:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "opentelemetry":
            callers = [frame.filename for frame in traceback.extract_stack()[:-1]]
            importer = [f for f in callers if not f.startswith("<frozen")][-1]  # the module with the import
            if any(importer.startswith(ROOT + p) for p in ("/orchestrator/", "/scheduling/", "/workers/")):
                tried_by_apps.append(name)
            raise ModuleNotFoundError(name)
        return None
sys.meta_path.insert(0, Absent())
import django
django.setup()
import orchestrator.broker, orchestrator.publishing, orchestrator.recovery, orchestrator.tracing
import scheduling.engine.dispatch, scheduling.engine.buffered, workers.tasks
from orchestrator import tracing
assert not tracing.enabled()
assert tracing.begin([], now=None)[1].spans == []
assert not tried_by_apps, tried_by_apps
"""
    env = {"DJANGO_SETTINGS_MODULE": "project.settings", "PATH": "/usr/bin:/bin", "SCHEDULER_TRACING": ""}
    done = subprocess.run(
        [sys.executable, "-c", code, str(ROOT)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]


def test_a_traceparent_round_trips(spans):
    span = tracing.tracer().start_span("x")
    text = tracing.traceparent_of(span)
    context = span.get_span_context()
    assert text == f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"
    parsed = trace.get_current_span(tracing.context_of(text)).get_span_context()
    assert (parsed.trace_id, parsed.span_id, parsed.is_remote) == (context.trace_id, context.span_id, True)


@pytest.mark.parametrize("text", ["", None, "garbage", "00-" + "0" * 32 + "-" + "0" * 16 + "-01", "00-abc-def-01"])
def test_an_empty_or_malformed_traceparent_is_no_context(text):
    assert tracing.context_of(text) is None


def test_each_run_begins_its_own_root_trace_with_its_schedule_and_lateness(spans):
    with tracing.tracer().start_as_current_span("the tick"):  # never the parent of an occurrence
        runs, begun = tracing.begin([planned(), planned()], now=NOW)
    begun.end()
    finished = [span for span in spans.get_finished_spans() if span.name == "ostinato.dispatch"]
    assert len(finished) == 2
    assert all(span.parent is None for span in finished)
    assert len({span.context.trace_id for span in finished}) == 2
    for run, span in zip(runs, finished, strict=True):
        assert run.traceparent == tracing.traceparent_of(span)
        assert span.attributes == {
            "ostinato.run.id": str(run.id),
            "ostinato.trigger": "schedule",
            "ostinato.attempt": 0,
            "ostinato.job": "noop",
            "ostinato.schedule.id": 7,
            "ostinato.schedule.name": "nightly",
            "ostinato.scheduled_for": "2026-03-01T12:00:00.000Z",
            "ostinato.lateness_ms": 5000,
        }


def test_a_publish_continues_the_runs_trace_and_a_retry_links_to_it(spans):
    (run,), begun = tracing.begin([planned()], now=NOW)
    begun.end()
    retry = planned(attempt=1)
    published = tracing.publish_spans([run, retry], [run.traceparent, run.traceparent], recovered=True)
    tracing.end_publish(published)
    dispatch = spans.get_finished_spans()[0]
    first, again = spans.get_finished_spans()[1:]
    assert first.context.trace_id == dispatch.context.trace_id
    assert first.parent.span_id == dispatch.context.span_id
    assert first.attributes["ostinato.recovered"] is True
    assert again.parent is None and again.context.trace_id != dispatch.context.trace_id
    assert [(link.context.trace_id, link.context.span_id) for link in again.links] == [
        (dispatch.context.trace_id, dispatch.context.span_id)
    ]


def test_a_failed_publish_is_an_error_span(spans):
    tracing.end_publish(tracing.publish_spans([planned()], [TRACEPARENT], recovered=False), error="broker down")
    (span,) = spans.get_finished_spans()
    assert span.status.status_code == trace.StatusCode.ERROR and span.status.description == "broker down"


def test_an_execution_is_the_child_of_the_messages_traceparent(spans):
    with tracing.executing(TRACEPARENT, run_id="r1", attempt=0) as execution:
        assert tracing.traceparent_of(trace.get_current_span()) == tracing.traceparent_of(execution.span)
        tracing.annotate(planned())
        execution.outcome("failed")
    (span,) = spans.get_finished_spans()
    assert f"{span.context.trace_id:032x}" == TRACEPARENT.split("-")[1]
    assert f"{span.parent.span_id:016x}" == TRACEPARENT.split("-")[2]
    assert span.attributes["ostinato.outcome"] == "failed"
    assert span.attributes["ostinato.schedule.name"] == "nightly"
    assert span.status.status_code == trace.StatusCode.ERROR


def test_an_execution_nests_under_a_span_already_current(spans):
    """Celery's instrumentation continues the trace from the message first: ours is its child, not a sibling."""
    with (
        tracing.tracer().start_as_current_span("run/workers.run") as celery_span,
        tracing.executing(TRACEPARENT, run_id="r1", attempt=0),
    ):
        pass
    execution = spans.get_finished_spans()[0]
    assert execution.parent.span_id == celery_span.get_span_context().span_id


def test_an_execution_without_a_traceparent_is_a_root(spans):
    with tracing.executing(None, run_id="r1", attempt=0) as execution:
        execution.outcome("succeeded")
    (span,) = spans.get_finished_spans()
    assert span.parent is None and span.status.status_code == trace.StatusCode.UNSET


def test_the_file_exporter_writes_a_json_line_per_span(spans, tmp_path):
    path = tmp_path / "spans.jsonl"
    (run,), begun = tracing.begin([planned(scheduled_for=None)], now=NOW + timedelta(seconds=1))
    begun.end()
    tracing.end_publish(tracing.publish_spans([run], [run.traceparent], recovered=False))
    JsonLinesExporter(str(path)).export(spans.get_finished_spans())
    dispatch, publish = (json.loads(line) for line in path.read_text().splitlines())
    assert dispatch["name"] == "ostinato.dispatch" and dispatch["parent_span_id"] is None
    assert publish["trace_id"] == dispatch["trace_id"] and publish["parent_span_id"] == dispatch["span_id"]
    assert "ostinato.scheduled_for" not in dispatch["attributes"]


@pytest.mark.parametrize(
    ("value", "expected"), [("", []), ("otel", []), ("jaeger", ["orchestrator.E010"]), ("OTEL", ["orchestrator.E010"])]
)
def test_the_tracing_setting_is_checked(settings, value, expected):
    from orchestrator.checks import check_tracing

    settings.SCHEDULER_TRACING = value
    assert [message.id for message in check_tracing(None)] == expected


def test_tracing_on_without_the_sdk_is_an_error(settings, monkeypatch):
    import importlib.util

    from orchestrator.checks import check_tracing

    settings.SCHEDULER_TRACING = "otel"
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == "opentelemetry.sdk" else real(name))
    assert [message.id for message in check_tracing(None)] == ["orchestrator.E011"]


def test_an_exporter_nobody_provides_turns_tracing_off_in_the_process_instead_of_failing(settings, monkeypatch, caplog):
    settings.SCHEDULER_TRACING = "otel"
    monkeypatch.setattr(tracing, "_tracer", None)
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "nosuchexporter")
    (run,), begun = tracing.begin([planned()], now=NOW)
    begun.end()
    assert run.traceparent == "" and "could not configure OpenTelemetry" in caplog.text
    assert isinstance(tracing.tracer(), trace.NoOpTracer)


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        ("otlp", ["OTLPSpanExporter"]),  # over HTTP: the extra ships no gRPC
        ("console,otlp_proto_http", ["ConsoleSpanExporter", "OTLPSpanExporter"]),
        ("none", []),
    ],
)
def test_the_exporters_are_the_ones_otel_traces_exporter_names(monkeypatch, names, expected):
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", names)
    exporters = tracing._exporters()
    assert [type(exporter).__name__ for exporter in exporters] == expected
    for exporter in exporters:
        exporter.shutdown()
