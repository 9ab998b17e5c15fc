"""Schedules as every list shows them: the admin changelist, ``/schedules/``, ``manage.py schedules``
and ``celery -A project schedules``, each in a fixed number of queries.

``with_last_run`` annotates each schedule with its latest run and latest occurrence through
subqueries on the ``(schedule, -created_at)`` index, so listing 100 schedules costs the same
queries as listing 1. ``ScheduleRow`` is one schedule's values; the pages and the command lines
take the parts they show from it. ``now`` is passed in: the callers read the clock.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db.models import F, Func, IntegerField, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce

from orchestrator.models import RunStatus
from orchestrator.timefmt import moment_text
from scheduling.core import calendars
from scheduling.models import Schedule, ScheduledRun, ScheduleQuerySet
from scheduling.models.occurrences import history_order
from scheduling.surfaces import calendar_input, control_state, describe, overview

#: Choices of the "last run" filter: every run status, and schedules that never ran.
NEVER_RAN = "never"
LAST_RUN_CHOICES: list[tuple[str, str]] = [*RunStatus.choices, (NEVER_RAN, "never ran")]


def with_last_run(queryset: ScheduleQuerySet) -> ScheduleQuerySet:
    """Each schedule annotated with its latest run (``last_run_id``, ``last_run_status``,
    ``last_run_created_at``: manual or scheduled) and its latest occurrence's status."""
    with_run = ScheduledRun.objects.filter(schedule=OuterRef("pk"), run__isnull=False).order_by("-created_at", "-pk")
    latest = ScheduledRun.objects.filter(schedule=OuterRef("pk")).order_by("-created_at", "-pk")
    return queryset.annotate(
        last_run_id=Subquery(with_run.values("run_id")[:1]),
        last_run_status=Subquery(with_run.values("run__status")[:1]),
        last_run_created_at=Subquery(with_run.values("created_at")[:1]),
        last_occurrence_status=Subquery(latest.values("status")[:1]),
        last_occurrence_run_status=Subquery(latest.values("run__status")[:1]),
    )


def with_overdue(queryset: ScheduleQuerySet) -> ScheduleQuerySet:
    """Each schedule annotated with ``overdue_count``: its overdue occurrences among its newest
    ``overview.COUNTED_OVER`` (the number the API's and the pages' ``counts.overdue`` give).

    A correlated subquery per schedule, bounded whatever the history holds: at most
    ``COUNTED_OVER`` entries of ``occurrence_history_idx`` and their rows.
    """
    newest = (
        ScheduledRun.objects.filter(schedule_id=OuterRef(OuterRef("pk")))
        .order_by(*history_order())
        .values("pk")[: overview.COUNTED_OVER]
    )
    overdue = (
        ScheduledRun.objects.filter(pk__in=newest, overdue_at__isnull=False)
        .order_by()
        .annotate(total=Func(F("pk"), function="COUNT"))
        .values("total")
    )
    return queryset.annotate(
        overdue_count=Coalesce(Subquery(overdue, output_field=IntegerField()), Value(0), output_field=IntegerField())
    )


def filter_last_run_status(queryset: ScheduleQuerySet, status: str) -> ScheduleQuerySet:
    """Schedules whose latest run has ``status`` (``never``: schedules without any run)."""
    annotated = queryset if "last_run_status" in queryset.query.annotations else with_last_run(queryset)
    if status == NEVER_RAN:
        return annotated.filter(**{"last_run_id__isnull": True})
    return annotated.filter(**{"last_run_status": status})


def iso(moment: datetime | None) -> str:
    """``2026-11-23T09:00:00Z`` (UTC, the form the pages' data attributes and the JSON outputs use); ``""`` for None."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z") if moment else ""


@dataclass(frozen=True, kw_only=True)
class ScheduleRow:
    """One schedule as the lists show it (from a schedule annotated by ``with_last_run``)."""

    id: int
    name: str
    job: str
    kind: str
    kind_label: str
    #: The schedule in words, with its zone where it matters (``describe.describe``).
    description: str
    #: Machine-neutral: ``cron 0 2 * * * (Europe/Berlin)``, ``every 300s``.
    timing: str
    timezone: str
    enabled: bool
    tenant: str
    #: None when disabled or ended.
    next_run_at: datetime | None
    #: Nominal time of the last occurrence dispatched.
    last_run_at: datetime | None
    last_run_id: str
    last_run_status: str
    last_run_created_at: datetime | None
    #: The latest occurrence's run status, or its own status when it has no run (skipped, missed, buffered).
    last_status: str | None
    overlap_policy: str
    misfire_policy: str
    #: ``enabled``, ``paused`` or ``disabled`` (``control_state``).
    state: str = "enabled"
    #: ``paused by alice at ...: note; resumes at ...``; "" when not paused.
    pause_text: str = ""
    paused: dict[str, Any] | None = None
    remaining_runs: int | None = None
    failure_streak: int = 0
    #: None: never pauses by itself.
    pause_after_failures: int | None = None
    #: None: no deadline.
    deadline_seconds: int | None = None
    #: The attached calendars' names, sorted (the command lines' rows; the pages leave it empty).
    calendars: tuple[str, ...] = ()
    #: Overdue occurrences among the newest ``overview.COUNTED_OVER`` (``with_overdue``; else 0).
    overdue: int = 0

    # --- what the schedules page shows -------------------------------------------------------------

    @property
    def next_run_local(self) -> str:
        return moment_text(self.next_run_at, self.timezone) if self.next_run_at else ""

    @property
    def next_run_utc(self) -> str:
        return describe.format_utc(self.next_run_at) if self.next_run_at else ""

    @property
    def next_run_iso(self) -> str:
        return iso(self.next_run_at)

    @property
    def last_run_label(self) -> str:
        return self.last_run_status.replace("_", " ")

    @property
    def last_run_local(self) -> str:
        return moment_text(self.last_run_created_at, self.timezone) if self.last_run_created_at else ""

    @property
    def last_run_utc(self) -> str:
        return describe.format_utc(self.last_run_created_at) if self.last_run_created_at else ""

    def page_json(self) -> dict[str, Any]:
        """What ``/schedules/rows/`` serves for the page's auto-refresh."""
        return {
            "id": self.id,
            "name": self.name,
            "job": self.job,
            "kind": self.kind,
            "kind_label": self.kind_label,
            "description": self.description,
            "timezone": self.timezone,
            "enabled": self.enabled,
            "next_run_local": self.next_run_local,
            "next_run_utc": self.next_run_utc,
            "next_run_iso": self.next_run_iso,
            "last_run_id": self.last_run_id,
            "last_run_status": self.last_run_status,
            "last_run_label": self.last_run_label,
            "last_run_local": self.last_run_local,
            "last_run_utc": self.last_run_utc,
            "state": self.state,
            "pause_text": self.pause_text,
            "remaining_runs": self.remaining_runs,
            "failure_streak": self.failure_streak,
        }

    # --- what the command lines show ---------------------------------------------------------------

    @property
    def policy(self) -> str:
        return f"overlap={self.overlap_policy} misfire={self.misfire_policy}"

    def cli_json(self) -> dict[str, Any]:
        """What ``manage.py schedules --json`` and ``celery -A project schedules list --json`` print."""
        return {
            "id": self.id,
            "name": self.name,
            "job": self.job,
            "timing": self.timing,
            "enabled": self.enabled,
            "tenant": self.tenant,
            "next_run_at": iso(self.next_run_at) or None,
            "last_run_at": iso(self.last_run_at) or None,
            "last_status": self.last_status,
            "overlap_policy": self.overlap_policy,
            "misfire_policy": self.misfire_policy,
            "state": self.state,
            "paused": self.paused,
            "remaining_runs": self.remaining_runs,
            "failure_streak": self.failure_streak,
            "pause_after_failures": self.pause_after_failures,
            "deadline_seconds": self.deadline_seconds,
            "calendars": list(self.calendars),
            "overdue": self.overdue,
        }

    @property
    def failures_cell(self) -> str:
        """The failure streak against the limit: ``1 of 3`` (pauses at 3), or ``1`` when it never pauses."""
        if self.pause_after_failures is None:
            return str(self.failure_streak)
        return f"{self.failure_streak} of {self.pause_after_failures}"


def row(schedule: Schedule, *, with_calendars: bool = False) -> ScheduleRow:
    """The values of one schedule annotated by ``with_last_run`` (``job`` selected with it);
    ``with_calendars``: its calendars' names too (prefetch them: no query each)."""
    last_run_id = getattr(schedule, "last_run_id", None)
    run_status = getattr(schedule, "last_occurrence_run_status", None)
    return ScheduleRow(
        id=schedule.pk,
        name=schedule.name,
        job=schedule.job.key,
        kind=schedule.kind,
        kind_label=schedule.get_kind_display(),
        description=describe.describe(schedule),
        timing=schedule.describe_timing(),
        timezone=schedule.timezone,
        enabled=schedule.enabled,
        tenant=schedule.tenant,
        next_run_at=schedule.next_run_at if schedule.enabled else None,
        last_run_at=schedule.last_run_at,
        last_run_id=str(last_run_id) if last_run_id else "",
        last_run_status=str(getattr(schedule, "last_run_status", "") or ""),
        last_run_created_at=getattr(schedule, "last_run_created_at", None),
        last_status=run_status or getattr(schedule, "last_occurrence_status", None),
        overlap_policy=schedule.overlap_policy,
        misfire_policy=schedule.misfire_policy,
        state=control_state.state(schedule),
        pause_text=control_state.pause_text(schedule),
        paused=control_state.paused_json(schedule),
        remaining_runs=schedule.remaining_runs,
        failure_streak=schedule.failure_streak,
        pause_after_failures=schedule.pause_after_failures,
        deadline_seconds=schedule.deadline_seconds,
        calendars=tuple(calendar_input.names(schedule)) if with_calendars else (),
        overdue=int(getattr(schedule, "overdue_count", 0) or 0),
    )


def schedule_rows(*, now: datetime, due_only: bool = False, tenant: str | None = None) -> list[ScheduleRow]:
    """Every schedule (or only the enabled ones due at ``now``), by name, in one query."""
    rows = with_overdue(with_last_run(Schedule.objects.select_related("job").prefetch_related("calendars")))
    if due_only:
        rows = rows.filter(Q(enabled=True) & Q(due_at__lte=now)).order_by("due_at", "name")
    else:
        rows = rows.order_by("name")
    if tenant is not None:
        rows = rows.filter(tenant=tenant)
    return [row(schedule, with_calendars=True) for schedule in rows]


def next_fire_times(name: str, *, now: datetime, count: int) -> tuple[Schedule, list[tuple[datetime, str | None]]]:
    """The schedule named ``name`` and its next ``count`` fire times after ``now``, each with the name of
    the calendar that excludes it or None (excluded times count among ``count``; Schedule.DoesNotExist)."""
    schedule = Schedule.objects.select_related("job").prefetch_related("calendars").get(name=name)
    if schedule.remaining_runs == 0:
        return schedule, []
    return schedule, [
        (moment, calendar.name if calendar is not None else None)
        for moment, calendar in calendars.upcoming(schedule, overview.calendar_specs(schedule), now, count)
    ]


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
    """Fixed-width lines with a header: name, job, timing, state, next run, last status, policy, runs left,
    the failure streak (``of`` the limit it pauses at), the deadline, the calendars, the overdue
    occurrences, and, for a paused schedule, who paused it, when, why and until when (the last column)."""
    header = (
        "NAME", "JOB", "TIMING", "STATE", "NEXT RUN (UTC)", "LAST STATUS", "POLICY", "RUNS LEFT",
        "FAILURES", "DEADLINE", "CALENDARS", "OVERDUE", "PAUSED",
    )  # fmt: skip
    table = [header]
    for item in rows:
        next_run = f"{iso(item.next_run_at)} ({_relative(item.next_run_at, now)})" if item.next_run_at else "-"
        left = "-" if item.remaining_runs is None else str(item.remaining_runs)
        deadline = "-" if item.deadline_seconds is None else f"{item.deadline_seconds}s"
        paused = item.pause_text.removeprefix("paused ") or "-"
        cells = (item.name, item.job, item.timing, item.state, next_run, item.last_status or "-", item.policy, left)
        controls = (item.failures_cell, deadline, ",".join(item.calendars) or "-", str(item.overdue))
        table.append((*cells, *controls, paused))
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip() for line in table]


def render_json(rows: Sequence[ScheduleRow]) -> str:
    return json.dumps([item.cli_json() for item in rows], indent=2)


def render_next(schedule: Schedule, times: Sequence[tuple[datetime, str | None]]) -> list[str]:
    """The next fire times of one schedule, in UTC and (when it is not UTC) in its zone; excluded ones marked."""
    shows_local = bool(schedule.timezone) and schedule.timezone != "UTC"
    zone = describe.zone_or_utc(schedule.timezone)
    lines = [f"{schedule.name}: {schedule.describe_timing()}" + ("" if schedule.enabled else " (disabled)")]
    note = control_state.upcoming_note(schedule, times)
    if note is not None:
        lines.append(f"  {note}")
    for moment, excluded in times:
        local = f"  ({moment.astimezone(zone).isoformat()} {schedule.timezone})" if shows_local else ""
        mark = f"  excluded by calendar '{excluded}' (skipped, not run)" if excluded else ""
        lines.append(f"  {iso(moment)}{local}{mark}")
    return lines
