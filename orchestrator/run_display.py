"""How a run reads on its page: its title, its attempt, its duration, its times.

One convention for attempts everywhere (the run page, the API's ``attempt``, ``celery inspect
runs`` and the events): the first execution is attempt 1. ``Run.attempt`` counts the executions
started so far, so it is the number of the attempt running or last made, and 0 before the first.
"""

from __future__ import annotations

import json
from typing import Any

from django.utils.html import format_html
from django.utils.safestring import SafeString

from orchestrator.admin_helpers import muted
from orchestrator.models import Run, RunStatus
from orchestrator.snapshots import RunSnapshot
from orchestrator.timefmt import moment_text


def job_key(run: Run) -> str:
    """The job the run froze (its key), else the job row's key."""
    return RunSnapshot.of(run.directive_snapshot).job.key or str(run.job.key)


def title(run: Run) -> str:
    """``log_triage run 3f2a…-full-uuid``: the job and the run's id, never a row number."""
    return f"{job_key(run)} run {run.id}"


def attempt_text(run: Run) -> str:
    """``attempt 2 of 4`` (1 = the first; ``of`` counts the retries the frozen job allows)."""
    allowed = 1 + RunSnapshot.of(run.directive_snapshot).job.max_retries
    if run.attempt == 0:
        return "not started yet (the first attempt is 1)" if run.status != RunStatus.CANCELLED else "never started"
    waiting = " (waiting to retry)" if run.status in (RunStatus.PENDING, RunStatus.QUEUED) else ""
    return f"attempt {run.attempt} of {max(allowed, run.attempt)}{waiting}"


def duration_text(duration_ms: int | None) -> str:
    if duration_ms is None:
        return "—"
    if duration_ms < 1000:
        return f"{duration_ms} ms"
    seconds = duration_ms / 1000
    return f"{seconds:.1f} s" if seconds < 120 else f"{int(seconds) // 60} min {int(seconds) % 60} s"


def zone_of(run: Run) -> str:
    """The time zone of the run's schedule (UTC for a run of no schedule)."""
    occurrence = getattr(run, "occurrence", None)
    schedule = getattr(occurrence, "schedule", None) if occurrence is not None else None
    return str(getattr(schedule, "timezone", "") or "UTC")


def when(run: Run, moment: Any) -> str:
    return moment_text(moment, zone_of(run))


def pretty_json(value: Any) -> SafeString:
    if value in (None, "", {}, []):
        return muted("—")
    text = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)
    return format_html('<pre class="ost-json" style="margin:0;white-space:pre-wrap">{}</pre>', text)
