"""``manage.py import_celery_beat``: django-celery-beat's ``PeriodicTask`` rows as schedules (``source="celery_beat"``).

The tables are read with SQL through Django's connection, so the import works whether or not
``django_celery_beat`` is installed in the running project (the standalone one does not install
it; a host usually does). One schedule per ``PeriodicTask``, named after it:

* crontab: ``kind="cron"`` in the crontab's ``timezone`` (``cron_fields``: Celery's reading of the
  fields, Sunday as 0 or 7); interval: ``interval_seconds`` (whole seconds only); clocked: a
  one-off at ``clocked_time``; solar: skipped, there is nothing like it here.
* ``one_off`` on a crontab or interval: a one-off at its next fire time (django-celery-beat runs
  such a task once, then disables it), kept at that time by later imports; one that already ran
  is skipped. A clocked time that has passed is skipped: nothing is left to run.
* ``start_time`` -> ``start_at``; ``expires`` -> ``end_at``; ``description``; ``enabled``;
  ``task``, ``args``, ``kwargs`` and the message options as ``mapping`` says.
* ``last_run_at`` -> ``last_run_at``, the next run after it. An interval goes on from its last run
  (``start_at`` = the later of ``start_time`` and ``last_run_at``), as django-celery-beat runs it,
  instead of from the epoch, which could run a daily task twice in a minute at the switch.

``--disable-source`` hands the imported tasks over in the same transaction: their
``PeriodicTask.enabled`` becomes false and django-celery-beat's change marker
(``django_celery_beat_periodictasks.last_update``, the one row its ``DatabaseScheduler`` polls)
moves, so a running django-celery-beat beat drops them at its next check. From then on the
schedules are marked handed over (``source_path``) and their ``enabled`` is ours: a later import
does not disable them because their ``PeriodicTask`` is. Skipped rows are never disabled there.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from orchestrator import audit
from orchestrator.errors import SchedulerError
from scheduling.core import timing
from scheduling.models import Schedule, ScheduleSource
from scheduling.surfaces.imports import apply, cron_fields, mapping
from scheduling.surfaces.imports.report import Report, Unmappable

TASKS = "django_celery_beat_periodictask"
CRONTABS = "django_celery_beat_crontabschedule"
INTERVALS = "django_celery_beat_intervalschedule"
CLOCKED = "django_celery_beat_clockedschedule"
SOLAR = "django_celery_beat_solarschedule"
#: The one row (``ident = 1``) whose ``last_update`` django-celery-beat's beat polls for changes.
CHANGES = "django_celery_beat_periodictasks"
#: ``source_path`` of an imported schedule, and of one whose PeriodicTask ``--disable-source`` disabled.
SOURCE_PATH = "django_celery_beat"
HANDED_OVER = "django_celery_beat (handed over: disabled there by --disable-source)"

#: The columns read, per table (alias prefix, table, columns).
_TASK_COLUMNS = (
    "id", "name", "task", "args", "kwargs", "queue", "exchange", "routing_key", "headers", "priority", "expires",
    "expire_seconds", "one_off", "start_time", "enabled", "last_run_at", "total_run_count", "description",
    "crontab_id", "interval_id", "clocked_id", "solar_id",
)  # fmt: skip
_COLUMNS = (
    ("t", TASKS, _TASK_COLUMNS),
    ("c", CRONTABS, ("minute", "hour", "day_of_month", "month_of_year", "day_of_week", "timezone")),
    ("i", INTERVALS, ("every", "period")),
    ("k", CLOCKED, ("clocked_time",)),
    ("s", SOLAR, ("event", "latitude", "longitude")),
)
#: How each schedule table joins its tasks (alias, table, the task's column).
_JOINS = (
    ("c", CRONTABS, "crontab_id"),
    ("i", INTERVALS, "interval_id"),
    ("k", CLOCKED, "clocked_id"),
    ("s", SOLAR, "solar_id"),
)
_CHUNK = 500


class SourceMissing(SchedulerError):
    """django-celery-beat's tables (or columns) are not in this database."""


@dataclass(kw_only=True)
class ImportReport(Report):
    """The outcomes, and what became of the PeriodicTasks themselves."""

    #: PeriodicTasks disabled by ``--disable-source`` (or that a dry run would disable).
    disabled_sources: int = 0
    #: Imported schedules that are enabled while their PeriodicTask still is (without ``--disable-source``).
    still_enabled_sources: int = 0


def check_tables(*, disable_source: bool) -> None:
    """``SourceMissing`` naming every table or column of django-celery-beat that is not in this database."""
    with connection.cursor() as cursor:
        present = set(connection.introspection.table_names(cursor))
        needed = [table for _, table, _ in _COLUMNS] + ([CHANGES] if disable_source else [])
        missing = [table for table in needed if table not in present]
        if missing:
            raise SourceMissing(
                f"django-celery-beat's tables are not in this database ({connection.settings_dict.get('NAME')}): "
                f"{', '.join(missing)} missing. Run the import with the settings of the project that uses "
                "django-celery-beat (its tables are made by `manage.py migrate django_celery_beat` there)"
            )
        for _, table, columns in _COLUMNS:
            found = {column.name for column in connection.introspection.get_table_description(cursor, table)}
            lacking = [column for column in columns if column not in found]
            if lacking:
                raise SourceMissing(
                    f"{table} has no column {', '.join(lacking)}: a django-celery-beat older than 2.0? "
                    "Migrate it to 2.x, then import again"
                )


def read_rows() -> list[dict[str, Any]]:
    """Every PeriodicTask with its schedule's columns (prefixed ``c_``, ``i_``, ``k_``, ``s_``), by name."""
    quote = connection.ops.quote_name
    selected = [
        f"{alias}.{quote(column)} AS {quote(column if alias == 't' else f'{alias}_{column}')}"
        for alias, _, columns in _COLUMNS
        for column in columns
    ]
    joins = " ".join(
        f"LEFT JOIN {quote(table)} {alias} ON {alias}.{quote('id')} = t.{quote(column)}"
        for alias, table, column in _JOINS
    )
    sql = f"SELECT {', '.join(selected)} FROM {quote(TASKS)} t {joins} ORDER BY t.{quote('name')}"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql)
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]


def _headers(text: Any) -> Any:
    """The ``headers`` column's value, for the dropped-options note (JSON text; empty or ``{}`` is none)."""
    if not isinstance(text, str) or not text.strip():
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def _timing(row: Mapping[str, Any], existing: Schedule | None, now: datetime) -> tuple[dict[str, Any], list[str]]:
    """The timing values of a PeriodicTask's schedule, and notes; ``Unmappable`` when it has none here."""
    kinds = [name for name in ("crontab", "interval", "clocked", "solar") if row[f"{name}_id"] is not None]
    if len(kinds) != 1:
        found = " and ".join(kinds) if kinds else "none of crontab, interval, clocked and solar"
        raise Unmappable(f"a PeriodicTask has exactly one schedule; this one has {found}")
    kind = kinds[0]
    start_at, end_at = mapping.aware(row["start_time"]), mapping.aware(row["expires"])
    last_run_at = mapping.aware(row["last_run_at"])
    notes: list[str] = []
    if kind == "solar":
        raise Unmappable(
            f"a solar schedule ({row['s_event']} at latitude {row['s_latitude']}, longitude {row['s_longitude']}) "
            "has no equivalent here (cron, interval and one-off schedules only): make it a cron schedule by hand"
        )
    if kind == "clocked":
        run_at = mapping.aware(row["k_clocked_time"])
        kept = existing is not None and existing.kind == timing.ONCE and existing.run_at == run_at
        if run_at is not None and run_at <= now and not kept:
            ran = f"it ran at {last_run_at.isoformat()}" if last_run_at else "it never ran"
            raise Unmappable(
                f"clocked at {run_at.isoformat()}, which has passed ({ran}): nothing is left to run; give it a "
                "later clocked time to import it"
            )
        return {"kind": timing.ONCE, "run_at": run_at, "timezone": "UTC", "start_at": start_at, "end_at": end_at}, notes
    if kind == "crontab":
        zone = str(row["c_timezone"] or "UTC")
        cron = cron_fields.expression(
            row["c_minute"], row["c_hour"], row["c_day_of_month"], row["c_month_of_year"], row["c_day_of_week"]
        )
        spec = timing.Spec(kind=timing.CRON, cron=cron, timezone=zone, start_at=start_at, end_at=end_at)
        values: dict[str, Any] = {"kind": timing.CRON, "cron": cron, "timezone": zone}
    else:
        seconds = mapping.interval_seconds(row["i_every"], row["i_period"])
        if not row["one_off"] and last_run_at is not None and (start_at is None or last_run_at > start_at):
            start_at = last_run_at
            notes.append(f"start_at {last_run_at.isoformat()}: goes on from its last run, as it did there")
        spec = timing.Spec(kind=timing.INTERVAL, interval_seconds=seconds, start_at=start_at, end_at=end_at)
        values = {"kind": timing.INTERVAL, "interval_seconds": seconds, "timezone": "UTC"}
    if row["one_off"]:
        kept = existing is not None and existing.kind == timing.ONCE
        if not kept and (last_run_at is not None or row["total_run_count"]):
            when = last_run_at.isoformat() if last_run_at else "an unknown time"
            raise Unmappable(f"one_off and it already ran (at {when}): nothing is left")
        run_at = mapping.first_time(spec, existing=existing, after=max(now, last_run_at or now))
        notes.append(f"one_off: a one-off at the {kind}'s next time, {run_at.isoformat()}")
        values = {"kind": timing.ONCE, "run_at": run_at, "timezone": values["timezone"]}
    if end_at is not None and end_at <= now:
        notes.append(f"expired at {end_at.isoformat()}: it will not run")
    return {**values, "start_at": start_at, "end_at": end_at}, notes


def candidate(row: Mapping[str, Any], existing: Schedule | None, jobs: mapping.Jobs, now: datetime) -> apply.Candidate:
    """What one PeriodicTask row maps to (see the module's docstring), or why it is skipped."""
    name = str(row["name"])
    try:
        job = jobs.get(row["task"])
        params = mapping.params_from_json(row["args"], row["kwargs"])
        mapping.check_routing(job, row)
        options = {
            "priority": row["priority"],
            "headers": _headers(row["headers"]),
            "expire_seconds": row["expire_seconds"],
        }
        values, notes = _timing(row, existing, now)
    except Unmappable as exc:
        return apply.Candidate(name=name, skip=str(exc))
    handed_over = existing is not None and existing.source_path == HANDED_OVER
    values.update(job=job, params=params, description=row["description"] or "")
    if not handed_over:
        values["enabled"] = bool(row["enabled"])
    return apply.Candidate(
        name=name,
        values=values,
        source_path=HANDED_OVER if handed_over else SOURCE_PATH,
        last_run_at=mapping.aware(row["last_run_at"]),
        notes=mapping.note_list(mapping.dropped(options), notes),
    )


def disable_sources(ids: Sequence[int], *, now: datetime) -> int:
    """Disable these PeriodicTasks and move django-celery-beat's change marker; returns how many were enabled."""
    quote = connection.ops.quote_name
    disabled = 0
    with connection.cursor() as cursor:
        for start in range(0, len(ids), _CHUNK):
            chunk = list(ids[start : start + _CHUNK])
            cursor.execute(
                f"UPDATE {quote(TASKS)} SET {quote('enabled')} = %s, {quote('date_changed')} = %s "  # noqa: S608
                f"WHERE {quote('enabled')} = %s AND {quote('id')} IN ({', '.join(['%s'] * len(chunk))})",
                [False, now, True, *chunk],
            )
            disabled += cursor.rowcount
        if not disabled:
            return 0  # nothing changed there: its beat has nothing to notice
        cursor.execute(
            f"UPDATE {quote(CHANGES)} SET {quote('last_update')} = %s WHERE {quote('ident')} = %s",  # noqa: S608
            [now, 1],
        )
        if cursor.rowcount == 0:
            cursor.execute(
                f"INSERT INTO {quote(CHANGES)} ({quote('ident')}, {quote('last_update')}) VALUES (%s, %s)",  # noqa: S608
                [1, now],
            )
    return disabled


def run_import(*, dry_run: bool = False, disable_source: bool = False, now: datetime | None = None) -> ImportReport:
    """Create or update a schedule per PeriodicTask, all in one transaction (rolled back for a dry run).

    Raises ``SourceMissing`` when django-celery-beat's tables are not in this database, and
    ``ConstraintError`` when the database refuses the writes (nothing is written then).
    """
    now = now or timezone.now()
    check_tables(disable_source=disable_source)
    with transaction.atomic(), audit.acting("import_celery_beat", audit.IMPORT):
        rows = read_rows()
        existing = apply.lock_existing(str(row["name"]) for row in rows)
        jobs = mapping.Jobs()
        candidates = [candidate(row, existing.get(str(row["name"])), jobs, now) for row in rows]
        outcomes = apply.apply(candidates, existing, source=ScheduleSource.CELERY_BEAT, now=now)
        imported = [(row, outcome) for row, outcome in zip(rows, outcomes, strict=True) if outcome.action != "skipped"]
        disabled = still_enabled = 0
        if disable_source and imported:
            disabled = disable_sources([row["id"] for row, _ in imported], now=now)
            handed = Schedule.objects.filter(
                name__in=[outcome.name for _, outcome in imported], source=ScheduleSource.CELERY_BEAT
            ).exclude(source_path=HANDED_OVER)
            audit.update(handed, source_path=HANDED_OVER)
        elif not disable_source:
            by_name = {item.name: item for item in candidates}
            for row, outcome in imported:
                kept = existing.get(outcome.name)
                here = by_name[outcome.name].values.get("enabled", kept.enabled if kept is not None else True)
                still_enabled += bool(row["enabled"] and here)
        if dry_run:
            transaction.set_rollback(True)
    return ImportReport(
        dry_run=dry_run,
        outcomes=outcomes,
        disabled_sources=disabled,
        still_enabled_sources=still_enabled,
    )
