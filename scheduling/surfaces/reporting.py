"""Read-only views of the schedules for operators: ``manage.py schedules`` and ``celery -A project schedules``.

One query for the list (the last occurrence's status comes from a subquery), the next fire
times from the pure time core. ``now`` is passed in: the commands read the clock, not this module.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import OuterRef, Q, Subquery

from scheduling.core import timing
from scheduling.models import Schedule, ScheduledRun


@dataclass(frozen=True, kw_only=True)
class ScheduleRow:
    id: int
    name: str
    job: str
    timing: str
    enabled: bool
    tenant: str
    next_run_at: datetime | None
    last_run_at: datetime | None
    #: The latest occurrence's run status, or its own status when it has no run (skipped, missed, buffered).
    last_status: str | None
    overlap_policy: str
    misfire_policy: str

    @property
    def policy(self) -> str:
        return f"overlap={self.overlap_policy} misfire={self.misfire_policy}"

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("next_run_at", "last_run_at"):
            data[key] = _iso(data[key])
        return data


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z") if moment else None


def schedule_rows(*, now: datetime, due_only: bool = False, tenant: str | None = None) -> list[ScheduleRow]:
    """Every schedule (or only the enabled ones due at ``now``), by name, with its last status."""
    latest = ScheduledRun.objects.filter(schedule=OuterRef("pk")).order_by("-created_at", "-id")
    rows = Schedule.objects.select_related("job").annotate(
        last_occurrence_status=Subquery(latest.values("status")[:1]),
        last_run_status=Subquery(latest.values("run__status")[:1]),
    )
    if due_only:
        rows = rows.filter(Q(enabled=True) & Q(due_at__lte=now)).order_by("due_at", "name")
    else:
        rows = rows.order_by("name")
    if tenant is not None:
        rows = rows.filter(tenant=tenant)
    return [
        ScheduleRow(
            id=row.pk,
            name=row.name,
            job=row.job.key,
            timing=row.describe_timing(),
            enabled=row.enabled,
            tenant=row.tenant,
            next_run_at=row.next_run_at if row.enabled else None,
            last_run_at=row.last_run_at,
            last_status=row.last_run_status or row.last_occurrence_status,  # type: ignore[attr-defined]
            overlap_policy=row.overlap_policy,
            misfire_policy=row.misfire_policy,
        )
        for row in rows
    ]


def next_fire_times(name: str, *, now: datetime, count: int) -> tuple[Schedule, list[datetime]]:
    """The schedule named ``name`` and its next ``count`` fire times after ``now`` (Schedule.DoesNotExist)."""
    schedule = Schedule.objects.select_related("job").get(name=name)
    return schedule, timing.next_fire_times(schedule, now, count)


def _relative(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "-"
    seconds = int((moment - now).total_seconds())
    ahead = seconds >= 0
    seconds = abs(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            text = f"{seconds // size}{unit}"
            break
    else:
        text = f"{seconds}s"
    return f"in {text}" if ahead else f"{text} ago"


def render_table(rows: Sequence[ScheduleRow], *, now: datetime) -> list[str]:
    """Fixed-width lines with a header: name, job, timing, state, next run, last status, policy."""
    header = ("NAME", "JOB", "TIMING", "STATE", "NEXT RUN (UTC)", "LAST STATUS", "POLICY")
    table = [header]
    for row in rows:
        next_run = f"{_iso(row.next_run_at)} ({_relative(row.next_run_at, now)})" if row.next_run_at else "-"
        table.append(
            (
                row.name,
                row.job,
                row.timing,
                "enabled" if row.enabled else "disabled",
                next_run,
                row.last_status or "-",
                row.policy,
            )
        )
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip() for line in table]


def render_json(rows: Sequence[ScheduleRow]) -> str:
    return json.dumps([row.as_json() for row in rows], indent=2)


def render_next(schedule: Schedule, times: Sequence[datetime]) -> list[str]:
    zone = schedule.timezone or "UTC"
    lines = [f"{schedule.name}: {schedule.describe_timing()}" + ("" if schedule.enabled else " (disabled)")]
    if not times:
        lines.append("  no further runs (the schedule has ended)")
    for moment in times:
        local = moment.astimezone(ZoneInfo(zone)) if zone != "UTC" else None
        lines.append(f"  {_iso(moment)}" + (f"  ({local.isoformat()} {zone})" if local else ""))
    return lines
