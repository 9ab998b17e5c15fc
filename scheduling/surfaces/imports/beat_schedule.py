"""``manage.py sync_beat_schedule``: the Celery app's ``beat_schedule`` as schedules (``source="code"``).

Celery's own beat keeps ``app.conf.beat_schedule`` in memory; this beat dispatches from the
database, so each entry becomes the schedule of its name, and every beat syncs them when it starts
(``sync_at_beat_start``), as Celery's beat reads them when it starts:

* ``schedule``: a ``crontab`` is a cron schedule in its own zone (else the app's ``timezone``),
  read as Celery reads its fields (``cron_fields``); a ``timedelta``, a number of seconds or a
  ``celery.schedules.schedule`` is an interval of whole seconds; a ``solar`` or any other kind is
  skipped with the reason.
* ``task``, ``args``, ``kwargs`` and ``options``: as ``mapping`` says (routing to another queue than
  the job's is skipped; message options are dropped and named).
* **What the code owns**: the job, the params and the timing. ``enabled`` is the operators': a new
  schedule starts enabled, and a sync never enables or disables one, except ``prune``: a
  code-made schedule whose entry is gone from ``beat_schedule`` is disabled (never deleted), and
  when its entry comes back, the schedule its prune disabled is enabled again (that one only).
  Schedules made at other doors are never pruned, and a name one of them has is not taken over.
* At beat start there is no prune (a beat of an older release, started during a deploy, must not
  disable what a newer one added): the schedules gone from ``beat_schedule`` are logged, to be
  pruned with ``manage.py sync_beat_schedule --prune``.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from celery.schedules import crontab, schedule, solar
from django.db import transaction
from django.utils import timezone

from orchestrator import audit, connections
from orchestrator.errors import ConstraintError
from scheduling.core import timing
from scheduling.engine.reports import BeatStarted
from scheduling.models import Schedule, ScheduleSource
from scheduling.surfaces.imports import apply, cron_fields, mapping
from scheduling.surfaces.imports.report import Outcome, Report, Unmappable

logger = logging.getLogger(__name__)

#: ``source_path`` of a code-made schedule, and of one a prune disabled because its entry was gone.
SOURCE_PATH = "beat_schedule"
PRUNED = "beat_schedule (pruned: gone from it)"
#: The keys of a ``beat_schedule`` entry Celery's ``ScheduleEntry`` takes.
ENTRY_KEYS = frozenset({"task", "schedule", "args", "kwargs", "options", "relative"})


@dataclass(kw_only=True)
class SyncReport(Report):
    #: Code-made schedules, still enabled, whose entry is gone from ``beat_schedule`` (not pruned).
    gone: list[str] = field(default_factory=list)


def _zone(entry_schedule: crontab, app: Any) -> str:
    """The IANA name of the zone a crontab is read in: its own ``tz`` when set, else the app's ``timezone``."""
    zone = entry_schedule.__dict__.get("tz") or app.timezone  # ``tz`` is a cached property: set when given
    name = getattr(zone, "key", None) or getattr(zone, "zone", None) or str(zone)
    if name.upper() == "UTC":
        return "UTC"
    problem = timing.validate_timezone(name)
    if problem:
        raise Unmappable(
            f"its crontab is read in the time zone {zone!r}, which has no IANA name here ({problem}); "
            "set the Celery app's timezone to an IANA name"
        )
    return name


def _timing(value: Any, app: Any) -> dict[str, Any]:
    """The timing values of an entry's ``schedule``; ``Unmappable`` when it has no equivalent here."""
    if isinstance(value, solar):
        raise Unmappable(
            f"a solar schedule ({value.event} at latitude {value.lat}, longitude {value.lon}) has no equivalent "
            "here (cron, interval and one-off schedules only)"
        )
    if isinstance(value, crontab):
        fields = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")
        cron = cron_fields.expression(*(getattr(value, f"_orig_{name}") for name in fields))  # as written
        return {"kind": timing.CRON, "cron": cron, "timezone": _zone(value, app)}
    if isinstance(value, schedule):
        value = value.run_every  # type: ignore[attr-defined]  # not in celery-types' stub
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            value = timedelta(seconds=value)
        except OverflowError as exc:
            raise Unmappable(f"schedule {value!r} seconds is out of range") from exc
    if isinstance(value, timedelta):
        return {"kind": timing.INTERVAL, "interval_seconds": mapping.whole_seconds(value, "schedule")}
    raise Unmappable(
        f"schedule {value!r} is a {type(value).__name__}; only a crontab, a schedule, a timedelta or a number of "
        "seconds can be synced"
    )


def candidate(name: str, entry: Any, existing: Schedule | None, jobs: mapping.Jobs, app: Any) -> apply.Candidate:
    """What one ``beat_schedule`` entry maps to (see the module's docstring), or why it is skipped."""
    try:
        if not isinstance(entry, Mapping):
            raise Unmappable(f"an entry must be a dict with task and schedule, not {type(entry).__name__}")
        unknown = sorted(set(entry) - ENTRY_KEYS)
        if unknown:
            raise Unmappable(f"{', '.join(unknown)}: not keys of a beat_schedule entry (Celery refuses them too)")
        if "schedule" not in entry:
            raise Unmappable("schedule is missing")
        job = jobs.get(entry.get("task"))
        params = mapping.task_params(entry.get("args"), entry.get("kwargs"))
        options = entry.get("options") or {}
        if not isinstance(options, Mapping):
            raise Unmappable(f"options must be a dict, not {options!r}")
        mapping.check_routing(job, options)
        values = {**_timing(entry["schedule"], app), "job": job, "params": params}
    except Unmappable as exc:
        return apply.Candidate(name=name, skip=str(exc))
    if existing is not None and existing.source == ScheduleSource.CODE and existing.source_path == PRUNED:
        values["enabled"] = True  # back in beat_schedule: undo what its prune did
    return apply.Candidate(name=name, values=values, source_path=SOURCE_PATH, notes=mapping.dropped(options))


#: Who the audit entries of a ``beat_schedule`` sync name (the command or a starting beat).
AUDIT_ACTOR = "beat_schedule"


def _prune(kept: set[str], *, now: datetime) -> list[Outcome]:
    """Disable the enabled code-made schedules whose entry is gone, marking them pruned."""
    gone = list(
        Schedule.objects.select_for_update()
        .filter(source=ScheduleSource.CODE, enabled=True)
        .exclude(name__in=kept)
        .order_by("name")
    )
    Schedule.objects.filter(pk__in=[row.pk for row in gone]).set_enabled(False, now=now)
    audit.update(Schedule.objects.filter(pk__in=[row.pk for row in gone]), source_path=PRUNED)
    return [
        Outcome(name=row.name, action="pruned", fields=(("enabled", True, False),), notes=("gone from beat_schedule",))
        for row in gone
    ]


def sync(
    *,
    prune: bool = False,
    dry_run: bool = False,
    app: Any = None,
    now: datetime | None = None,
    since: datetime | None = None,
) -> SyncReport:
    """Create or update a schedule per ``beat_schedule`` entry of ``app`` (the scheduler's Celery app), in one
    transaction (rolled back for a dry run); ``prune`` disables the code-made schedules gone from it.

    ``since``: the beat that ran these entries until now stopped then (the cutover): every schedule
    runs from its first fire time after it, as if its last run were then, so what fell due after the
    old beat stopped runs here (by its misfire policy) and nothing before it runs twice.

    Raises ``ConstraintError`` when the database refuses the writes (nothing is written then).
    """
    app = app or connections.celery_app()
    now = now or timezone.now()
    entries = {str(name): entry for name, entry in dict(app.conf.beat_schedule or {}).items()}
    report = SyncReport(dry_run=dry_run)
    with transaction.atomic(), audit.acting(AUDIT_ACTOR, audit.IMPORT):
        names = list(entries)
        existing = apply.lock_existing(names)
        jobs = mapping.Jobs()
        candidates = [candidate(name, entry, existing.get(name), jobs, app) for name, entry in entries.items()]
        if since is not None:
            candidates = [c if c.skip else dataclasses.replace(c, last_run_at=since) for c in candidates]
        report.outcomes = apply.apply(candidates, existing, source=ScheduleSource.CODE, now=now)
        if prune:
            report.outcomes += _prune(set(names), now=now)
        else:
            report.gone = list(
                Schedule.objects.filter(source=ScheduleSource.CODE, enabled=True)
                .exclude(name__in=names)
                .order_by("name")
                .values_list("name", flat=True)
            )
        if dry_run:
            transaction.set_rollback(True)
    return report


def sync_at_beat_start(started: BeatStarted) -> None:
    """The sync a beat runs when it starts (no prune): what changed is logged, a bad entry is logged and skipped.

    Several beats starting at once may create the same schedules: the one whose writes the
    database refuses syncs again, and finds them made.
    """
    try:
        report = sync(app=started.app, now=started.now)
    except ConstraintError:
        report = sync(app=started.app, now=started.now)
    for outcome in report.outcomes:
        if outcome.action == "skipped":
            logger.warning("beat_schedule entry %s", outcome.line(), extra={"event": "beat_schedule_synced"})
        elif outcome.action != "unchanged":
            logger.info("beat_schedule entry %s", outcome.line(), extra={"event": "beat_schedule_synced"})
    if report.gone:
        logger.warning(
            "code-made schedules no longer in beat_schedule stay enabled: %s; run manage.py sync_beat_schedule "
            "--prune to disable them",
            ", ".join(report.gone),
            extra={"event": "beat_schedule_synced"},
        )
    logger.info("beat_schedule synced: %s", report.totals(), extra={"event": "beat_schedule_synced"})
