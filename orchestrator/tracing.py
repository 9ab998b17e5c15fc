"""OpenTelemetry traces of runs: one trace per occurrence, from the beat's dispatch to the worker's execution.

Off unless ``SCHEDULER_TRACING = "otel"`` (the ``otel`` extra installed). Nothing of OpenTelemetry
is imported while it is off: every function here first asks ``enabled()`` (one settings lookup), and
the callers on hot paths ask it once per batch. When on, the SDK is configured once per process on
first use from the standard ``OTEL_*`` variables (``OTEL_SERVICE_NAME``, ``OTEL_TRACES_EXPORTER``,
``OTEL_EXPORTER_OTLP_ENDPOINT``, ``OTEL_TRACES_SAMPLER``, ``OTEL_BSP_*``, ...), unless the process
already has a tracer provider (a host that configured OpenTelemetry itself keeps its own).

The spans, each occurrence its own trace (a tick is never one trace):

- ``ostinato.dispatch`` (root): the beat created the run; its ``traceparent`` is kept on the run row;
- ``ostinato.publish`` (its child): the message sent; the message's ``traceparent`` header names it;
  a republish by recovery is another child of the row's ``traceparent``, so it continues the trace;
- ``ostinato.execute`` (the publish's child, on the worker): the delivery, its claim and the job.

A retry's publish and a released buffered occurrence start a trace of their own with a span link to
the trace they follow, never nested in it. Run now and API runs start at ``ostinato.create``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from django.conf import settings

if TYPE_CHECKING:
    from opentelemetry.trace import Span, Tracer

logger = logging.getLogger(__name__)

TRACING_OTEL = "otel"
#: When set (a path), every span is also written there as one JSON object a line (tests, debugging).
FILE_ENV = "SCHEDULER_TRACING_FILE"
SERVICE_NAME = "ostinato"
_PREFIX = "ostinato."

_lock = threading.Lock()
_tracer: Tracer | None = None


def enabled() -> bool:
    """Whether tracing is on (``SCHEDULER_TRACING == "otel"``); read when used, so a test may switch it."""
    return getattr(settings, "SCHEDULER_TRACING", "") == TRACING_OTEL


def tracer() -> Tracer:
    """The process's tracer, configuring the SDK from the environment on first use (only when on)."""
    global _tracer
    if _tracer is None:
        with _lock:
            if _tracer is None:
                try:
                    _tracer = _configure()
                except Exception as exc:  # a bad OTEL_* value must not stop dispatching or running
                    from opentelemetry import trace

                    logger.error("tracing is off in this process: could not configure OpenTelemetry: %s", exc)
                    _tracer = trace.NoOpTracer()
    return _tracer


def _configure() -> Tracer:
    from opentelemetry import trace

    current = trace.get_tracer_provider()
    if isinstance(current, trace.ProxyTracerProvider):  # nobody configured OpenTelemetry: we do
        trace.set_tracer_provider(_provider())
    elif os.environ.get(FILE_ENV) and hasattr(current, "add_span_processor"):  # e.g. opentelemetry-instrument's
        current.add_span_processor(_file_processor(os.environ[FILE_ENV]))
    return trace.get_tracer(SERVICE_NAME)


def _provider() -> Any:
    """A ``TracerProvider`` from the ``OTEL_*`` variables (sampler, resource, span limits: the SDK's own)."""
    from opentelemetry.sdk.resources import OTELResourceDetector, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {"service.name": SERVICE_NAME}
    resource = Resource.create(attributes).merge(OTELResourceDetector().detect())
    provider = TracerProvider(resource=resource)
    for exporter in _exporters():
        provider.add_span_processor(BatchSpanProcessor(exporter))
    path = os.environ.get(FILE_ENV)
    if path:
        provider.add_span_processor(_file_processor(path))
    return provider


def _file_processor(path: str) -> Any:
    """Synchronous: a span is on disk when it ends, also in a process stopped right after."""
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    from orchestrator.tracing_file import JsonLinesExporter

    return SimpleSpanProcessor(JsonLinesExporter(path))


def _exporters() -> list[Any]:
    """The exporters ``OTEL_TRACES_EXPORTER`` names (default ``otlp``; ``none``: none), as the SDK's entry points."""
    from importlib.metadata import entry_points

    names = [name.strip() for name in os.environ.get("OTEL_TRACES_EXPORTER", "otlp").split(",") if name.strip()]
    found = {ep.name: ep for ep in entry_points(group="opentelemetry_traces_exporter")}
    exporters = []
    for name in names:
        if name == "none":
            continue
        if name == "otlp":  # as the SDK's own configuration reads it; http/protobuf unless told (the extra has it)
            protocol = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or os.environ.get(
                "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"
            )
            name = "otlp_proto_grpc" if protocol == "grpc" else "otlp_proto_http"
        if name not in found:
            raise LookupError(f"OTEL_TRACES_EXPORTER names {name!r}, which no installed package provides")
        exporters.append(found[name].load()())
    return exporters


def flush(timeout_ms: int = 5000) -> None:
    """Export the spans still buffered (a worker's pool process about to exit); nothing when never traced."""
    if _tracer is None:
        return
    from opentelemetry import trace

    provider = trace.get_tracer_provider()
    if hasattr(provider, "force_flush"):
        provider.force_flush(timeout_ms)


# -- the W3C traceparent ------------------------------------------------------------------------------


def traceparent_of(span: Span) -> str:
    """``00-<trace id>-<span id>-<flags>`` of ``span`` (empty for an invalid span)."""
    ctx = span.get_span_context()
    if not ctx.is_valid:
        return ""
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"


def context_of(traceparent: str | None) -> Any:
    """The OpenTelemetry context whose parent is ``traceparent`` (None when empty or malformed)."""
    if not traceparent:
        return None
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    ctx = TraceContextTextMapPropagator().extract({"traceparent": traceparent})
    return ctx if _span_context(ctx) is not None else None


def _span_context(ctx: Any) -> Any:
    from opentelemetry import trace

    span_context = trace.get_current_span(ctx).get_span_context()
    return span_context if span_context.is_valid else None


def _root() -> Any:
    """An empty context: a span started in it is a root, whatever is current (the beat's tick is never a trace)."""
    from opentelemetry.context import Context

    return Context()


def _links(traceparent: str | None) -> list[Any]:
    from opentelemetry import trace

    span_context = _span_context(context_of(traceparent)) if traceparent else None
    return [trace.Link(span_context)] if span_context is not None else []


# -- the beat: one root span per run it creates ---------------------------------------------------------


class RunLike(Protocol):
    @property
    def id(self) -> uuid.UUID: ...
    @property
    def trigger(self) -> str: ...
    @property
    def directive_snapshot(self) -> Any: ...
    @property
    def attempt(self) -> int: ...


class Planned(RunLike, Protocol):
    """A run about to be written (``orchestrator.snapshots.PlannedRun``, a frozen dataclass)."""

    @property
    def traceparent(self) -> str: ...


P = TypeVar("P", bound=Planned)


@dataclass(kw_only=True)
class Begun:
    """Root spans begun for runs about to be written; ``end()`` them once the runs are published."""

    spans: list[Span] = field(default_factory=list)

    def end(self) -> None:
        for span in self.spans:
            span.end()
        self.spans.clear()


def begin(
    runs: Sequence[P], *, now: datetime, name: str = "ostinato.dispatch", links: Mapping[uuid.UUID, str] | None = None
) -> tuple[list[P], Begun]:
    """Start each run's trace (a root span, linked to ``links[run.id]`` when given) and keep its ``traceparent``.

    Returns the runs with ``traceparent`` set (write those) and the spans to end after publishing.
    """
    begun = Begun()
    if not runs or not enabled():
        return list(runs), begun
    from opentelemetry import trace

    tracer_ = tracer()
    root = _root()
    traced: list[P] = []
    for run in runs:
        span = tracer_.start_span(
            name,
            context=root,
            kind=trace.SpanKind.INTERNAL,
            attributes=run_attributes(run, now=now),
            links=_links((links or {}).get(run.id)),
        )
        begun.spans.append(span)
        traced.append(replace(run, traceparent=traceparent_of(span)))  # type: ignore[type-var]  # a dataclass
    return traced, begun


def run_attributes(run: RunLike, *, now: datetime | None = None) -> dict[str, Any]:
    """A run's span attributes: run id, trigger, attempt, job, and its schedule's id, name, time and lateness."""
    snapshot = run.directive_snapshot if isinstance(run.directive_snapshot, Mapping) else {}
    attributes: dict[str, Any] = {
        _PREFIX + "run.id": str(run.id),
        _PREFIX + "trigger": str(run.trigger),
        _PREFIX + "attempt": int(run.attempt),
    }
    job = snapshot.get("job") or {}
    if isinstance(job, Mapping) and job.get("key"):
        attributes[_PREFIX + "job"] = str(job["key"])
    schedule = snapshot.get("schedule") or {}
    if isinstance(schedule, Mapping) and schedule.get("id") is not None:
        attributes[_PREFIX + "schedule.id"] = int(schedule["id"])
        attributes[_PREFIX + "schedule.name"] = str(schedule.get("name", ""))
        scheduled_for = schedule.get("scheduled_for")
        if scheduled_for:
            attributes[_PREFIX + "scheduled_for"] = str(scheduled_for)
            if now is not None:
                lateness = now - datetime.fromisoformat(str(scheduled_for).replace("Z", "+00:00"))
                attributes[_PREFIX + "lateness_ms"] = int(lateness.total_seconds() * 1000)
    return attributes


# -- publishing: one child span per message -----------------------------------------------------------


def publish_spans(runs: Sequence[RunLike], traceparents: Sequence[str], *, recovered: bool) -> list[Span]:
    """A publish span per run: the child of its ``traceparent`` (the run's trace continues), or for a
    retry (attempt > 0) a new trace linked to it. Start them before sending, ``end_publish`` after."""
    from opentelemetry import trace

    tracer_ = tracer()
    spans = []
    for run, traceparent in zip(runs, traceparents, strict=True):
        retry = run.attempt > 0
        parent = None if retry else context_of(traceparent)
        attributes = run_attributes(run)
        attributes[_PREFIX + "recovered"] = recovered
        spans.append(
            tracer_.start_span(
                "ostinato.publish",
                context=parent if parent is not None else _root(),
                kind=trace.SpanKind.PRODUCER,
                attributes=attributes,
                links=_links(traceparent) if retry else [],
            )
        )
    return spans


def end_publish(spans: Sequence[Span], *, error: str = "") -> None:
    from opentelemetry.trace import Status, StatusCode

    for span in spans:
        if error:
            span.set_status(Status(StatusCode.ERROR, error[:200]))
        span.end()


@contextlib.contextmanager
def attached(traceparent: str) -> Iterator[None]:
    """Make ``traceparent`` the current span while sending one message (Celery's own instrumentation
    then starts its publish span under ours, and injects that into the message instead)."""
    from opentelemetry import context

    ctx = context_of(traceparent)
    token = context.attach(ctx) if ctx is not None else None
    try:
        yield
    finally:
        if token is not None:
            context.detach(token)


# -- the worker: the execution, the publish span's child ------------------------------------------------


@dataclass(kw_only=True)
class Execution:
    """The span of one delivery; ``outcome`` records how it ended (an error status for failures)."""

    span: Span

    def annotate(self, attributes: Mapping[str, Any]) -> None:
        self.span.set_attributes(dict(attributes))

    def outcome(self, status: str) -> None:
        from opentelemetry.trace import Status, StatusCode

        self.span.set_attribute(_PREFIX + "outcome", status)
        if status in ("failed", "timed_out", "retrying"):  # an attempt that failed, retried or not
            self.span.set_status(Status(StatusCode.ERROR, status))


def annotate(run: RunLike) -> None:
    """Add ``run``'s attributes (schedule, job, trigger) to the current span (the delivery's, once claimed)."""
    from opentelemetry import trace

    trace.get_current_span().set_attributes(run_attributes(run))


@contextlib.contextmanager
def executing(traceparent: str | None, *, run_id: str, attempt: int) -> Iterator[Execution]:
    """The current span while a worker handles a delivery: the child of the span current already (Celery's
    instrumentation continued the trace from the message), else of the message's ``traceparent``."""
    from opentelemetry import trace

    current = trace.get_current_span().get_span_context()
    parent = None if current.is_valid else context_of(traceparent)
    span = tracer().start_span(
        "ostinato.execute",
        context=parent if parent is not None or current.is_valid else _root(),
        kind=trace.SpanKind.CONSUMER,
        attributes={_PREFIX + "run.id": str(run_id), _PREFIX + "attempt": int(attempt)},
    )
    with trace.use_span(span, end_on_exit=True, record_exception=True, set_status_on_exception=True):
        yield Execution(span=span)
