"""What the schedule lists show (the admin changelist and the schedules page), in a fixed number of queries.

``with_last_run`` annotates each schedule with its latest run (manual or scheduled) through
subqueries on the ``(schedule, -created_at)`` index, so listing 100 schedules costs the same
queries as listing 1. ``row`` turns one annotated schedule into the values the page shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import OuterRef, Subquery

from orchestrator.models import RunStatus
from scheduling.models import Schedule, ScheduledRun, ScheduleQuerySet
from scheduling.surfaces import describe

#: Choices of the "last run" filter: every run status, and schedules that never ran.
NEVER_RAN = "never"
LAST_RUN_CHOICES: list[tuple[str, str]] = [*RunStatus.choices, (NEVER_RAN, "never ran")]


def with_last_run(queryset: ScheduleQuerySet) -> ScheduleQuerySet:
    """Each schedule annotated with ``last_run_id``, ``last_run_status`` and ``last_run_created_at``."""
    latest = ScheduledRun.objects.filter(schedule=OuterRef("pk"), run__isnull=False).order_by("-created_at", "-pk")
    return queryset.annotate(
        last_run_id=Subquery(latest.values("run_id")[:1]),
        last_run_status=Subquery(latest.values("run__status")[:1]),
        last_run_created_at=Subquery(latest.values("created_at")[:1]),
    )


def filter_last_run_status(queryset: ScheduleQuerySet, status: str) -> ScheduleQuerySet:
    """Schedules whose latest run has ``status`` (``never``: schedules without any run)."""
    annotated = queryset if "last_run_status" in queryset.query.annotations else with_last_run(queryset)
    if status == NEVER_RAN:
        return annotated.filter(**{"last_run_id__isnull": True})
    return annotated.filter(**{"last_run_status": status})


@dataclass(frozen=True, kw_only=True)
class ScheduleRow:
    """One schedule as the schedules page shows it (and serves it to its auto-refresh)."""

    id: int
    name: str
    job: str
    kind: str
    kind_label: str
    description: str
    timezone: str
    enabled: bool
    next_run_local: str
    next_run_utc: str
    next_run_iso: str
    last_run_id: str
    last_run_status: str
    last_run_label: str
    last_run_local: str
    last_run_utc: str

    def as_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _iso(moment: datetime | None) -> str:
    return moment.isoformat().replace("+00:00", "Z") if moment else ""


def row(schedule: Schedule) -> ScheduleRow:
    """The values of one schedule annotated by ``with_last_run`` (``job`` selected with it)."""
    zone = describe.zone_or_utc(schedule.timezone)
    next_run = schedule.next_run_at if schedule.enabled else None
    last_created: datetime | None = getattr(schedule, "last_run_created_at", None)
    last_run_id = getattr(schedule, "last_run_id", None)
    status = str(getattr(schedule, "last_run_status", "") or "")
    return ScheduleRow(
        id=schedule.pk,
        name=schedule.name,
        job=schedule.job.key,
        kind=schedule.kind,
        kind_label=schedule.get_kind_display(),
        description=describe.describe(schedule),
        timezone=schedule.timezone,
        enabled=schedule.enabled,
        next_run_local=describe.format_local(next_run, zone) if next_run else "",
        next_run_utc=describe.format_utc(next_run) if next_run else "",
        next_run_iso=_iso(next_run),
        last_run_id=str(last_run_id) if last_run_id else "",
        last_run_status=status,
        last_run_label=status.replace("_", " "),
        last_run_local=describe.format_local(last_created, zone) if last_created else "",
        last_run_utc=describe.format_utc(last_created) if last_created else "",
    )
