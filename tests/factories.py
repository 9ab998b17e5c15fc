"""Factories for test rows: each takes only what a test cares about."""

from __future__ import annotations

from typing import Any

from orchestrator.models import Job, Run
from scheduling.models import Schedule

_counter = 0


def job(key: str = "noop", **changes: Any) -> Job:
    """The Job row of a registered job (created by migrate), with ``changes`` applied."""
    row = Job.objects.get(key=key)
    if changes:
        for name, value in changes.items():
            setattr(row, name, value)
        row.save()
    return row


def schedule(job_key: str = "noop", **fields: Any) -> Schedule:
    global _counter
    _counter += 1
    fields.setdefault("name", f"schedule-{_counter}")
    if "kind" not in fields:
        fields["kind"] = "interval"
        fields.setdefault("interval_seconds", 1)
    row = Schedule(job=job(job_key), **fields)
    row.save()
    return row


def run_row(job_key: str = "noop", *, trigger: str = "manual", now=None, **changes: Any) -> Run:
    """A run written through the service's own path (frozen snapshot, pending), with ``changes`` applied."""
    from django.utils import timezone

    from orchestrator import service

    planned = service.build_run(service.RunRequest(job=job(job_key), trigger=trigger), now=now or timezone.now())
    service.insert_runs([planned])
    if changes:
        Run.objects.filter(id=planned.id).update(**changes)
    return Run.objects.get(id=planned.id)
