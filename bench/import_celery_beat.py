"""``python -m bench.run --only import-celery-beat``: ``manage.py import_celery_beat`` of 10,000 PeriodicTasks.

A fresh child process (``bench.child import-celery-beat -n N``, with django-celery-beat installed
and migrated by the bench settings) writes N PeriodicTasks with SQL, mixed as a host's are: crontabs
in four zones (two with day-of-week names), intervals in seconds, minutes, hours and days (some
that ran ten minutes ago), clocked one-offs; three tasks of the app (``bench.noop`` with
positional args, ``host.add`` with two, ``host.who`` with a keyword). It then times the command as
an operator runs it: the first import (every row created) and the same import again (every row
unchanged). Each figure is wall time and this process's CPU time (PostgreSQL's work is in the
wall time only).

Targets: the first import under 30 s, the re-run under 5 s; the ratio printed is the time taken
over the target (below 1.0: met).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from io import StringIO
from typing import Any

SIZE = 10_000
TARGETS = {"first": 30.0, "unchanged": 5.0}
LABELS = {"first": "first import", "unchanged": "re-run, nothing changed"}

_CRONTABS = [
    ("0", "3", "*", "*", "*", "UTC"),
    ("*/15", "9-17", "*", "*", "mon-fri", "Europe/Berlin"),
    ("30", "2", "1,15", "*", "*", "America/New_York"),
    ("0", "*/6", "*", "*", "sat,sun", "Asia/Kolkata"),
]
_INTERVALS = [(60, "seconds"), (5, "minutes"), (1, "hours"), (1, "days")]


def seed(n: int) -> None:
    """N PeriodicTasks: 2 in 5 crontab, 2 in 5 interval (half of those ran ten minutes ago), 1 in 5 clocked."""
    from bench.child_io import sql

    sql(
        "TRUNCATE scheduling_scheduledrun, orchestrator_run, scheduling_schedule, django_celery_beat_periodictask, "
        "django_celery_beat_crontabschedule, django_celery_beat_intervalschedule, django_celery_beat_clockedschedule, "
        "django_celery_beat_periodictasks RESTART IDENTITY CASCADE"
    )
    for fields in _CRONTABS:
        sql(
            "INSERT INTO django_celery_beat_crontabschedule (minute, hour, day_of_month, month_of_year, day_of_week, "
            "timezone) VALUES (%s, %s, %s, %s, %s, %s)",
            list(fields),
        )
    for every, period in _INTERVALS:
        sql("INSERT INTO django_celery_beat_intervalschedule (every, period) VALUES (%s, %s)", [every, period])
    sql(
        "INSERT INTO django_celery_beat_clockedschedule (clocked_time) "
        "SELECT now() + d * interval '1 day' FROM generate_series(1, 28) AS d"
    )
    sql(
        """
        INSERT INTO django_celery_beat_periodictask (name, task, args, kwargs, queue, headers, description, enabled,
            last_run_at, total_run_count, date_changed, one_off, crontab_id, interval_id, clocked_id)
        SELECT 'bench-' || i,
               CASE i %% 3 WHEN 0 THEN 'bench.noop' WHEN 1 THEN 'host.add' ELSE 'host.who' END,
               CASE i %% 3 WHEN 0 THEN '[' || i || ']' WHEN 1 THEN '[' || i || ', 1]' ELSE '[]' END,
               CASE i %% 3 WHEN 2 THEN '{"note": "n' || i || '"}' ELSE '{}' END,
               NULL, '{}', 'periodic task ' || i, true,
               CASE WHEN i %% 5 IN (2, 3) AND i %% 2 = 0 THEN now() - interval '10 minutes' END,
               CASE WHEN i %% 5 IN (2, 3) AND i %% 2 = 0 THEN 1 ELSE 0 END,
               now(), i %% 5 = 4,
               CASE WHEN i %% 5 IN (0, 1) THEN (SELECT min(id) FROM django_celery_beat_crontabschedule) + i %% 4 END,
               CASE WHEN i %% 5 IN (2, 3) THEN (SELECT min(id) FROM django_celery_beat_intervalschedule) + i %% 4 END,
               CASE WHEN i %% 5 = 4 THEN (SELECT min(id) FROM django_celery_beat_clockedschedule) + i %% 28 END
        FROM generate_series(1, %s) AS i""",
        [n],
    )


def step_import_celery_beat(args: argparse.Namespace) -> dict[str, Any]:
    """In a child process (Django set up): seed, then the two timed imports of ``args.n`` PeriodicTasks."""
    from django.core.management import call_command

    from scheduling.models import Schedule
    from tests import host_tasks

    assert host_tasks.add.name == "host.add"  # the host's tasks are in the app the import looks them up in
    seed(args.n)

    def timed() -> dict[str, Any]:
        out = StringIO()
        wall, cpu = time.perf_counter(), time.process_time()
        call_command("import_celery_beat", stdout=out)
        figures: dict[str, Any] = {"wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu}
        figures["totals"] = out.getvalue().splitlines()[args.n]  # after one line per row
        return figures

    measured = {"first": timed(), "unchanged": timed()}
    created = Schedule.objects.filter(source="celery_beat").count()
    assert created == args.n, f"{created} of {args.n} imported: {measured['first']['totals']}"
    return {"n": args.n, **measured}


Child = Callable[..., dict[str, Any]]


def import_celery_beat_step(child: Child, say: Callable[[str], None], env: dict[str, str]) -> dict[str, Any]:
    """The figures, each with its ratio to its target."""
    say(f"== import_celery_beat: {SIZE:,} django-celery-beat PeriodicTasks (crontab, interval, clocked; 3 tasks)")
    result = child(env, "import-celery-beat", "-n", SIZE)
    ratios = {step: result[step]["wall_s"] / target for step, target in TARGETS.items()}
    for step, target in TARGETS.items():
        figures = result[step]
        say(
            f"  {LABELS[step]}: {figures['wall_s']:.2f} s (CPU {figures['cpu_s']:.2f}), {ratios[step]:.2f}x the "
            f"{target:.0f} s target: {'met' if ratios[step] < 1 else 'NOT met'} ({figures['totals']})"
        )
    return {"result": result, "target_ratio": ratios, "goal_met": all(ratio < 1 for ratio in ratios.values())}
