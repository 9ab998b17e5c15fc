"""django-celery-beat's tables in the test database, made from its own models; its rows written with SQL.

The test settings do not install ``django_celery_beat`` (nor does the standalone project), which
is the case the import must handle. Its tables are made from the installed django-celery-beat's
own model classes, so they are what its migrations make for that version (columns, types,
nullability), whatever the version: the models are imported once under a temporary app entry
(Django refuses a model outside an installed app), the entry is removed at once, and
``create_tables`` makes the tables with a schema editor inside the test's transaction (rolled
back with it). Rows are written with plain SQL, as a host's would be found.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.apps import AppConfig, apps
from django.db import connection
from django.db.models import Model

LABEL = "django_celery_beat"
_models: list[type[Model]] = []


def _model_classes() -> list[type[Model]]:
    """django-celery-beat's models, schedules before the tasks that refer to them (imported once)."""
    if not _models:
        config = AppConfig.create(LABEL)
        config.apps = apps
        apps.app_configs[config.label] = config
        try:
            config.import_models()
            found = list(config.get_models())
        finally:
            del apps.app_configs[config.label]  # the project does not install it: nothing else may see it
            apps.clear_cache()
        _models.extend(sorted(found, key=lambda model: model.__name__ == "PeriodicTask"))
    return _models


def create_tables() -> None:
    """Make django-celery-beat's tables in the test database (inside the test's transaction)."""
    with connection.schema_editor() as editor:
        for model in _model_classes():
            editor.create_model(model)


def _insert(table: str, values: dict[str, Any]) -> int:
    quote = connection.ops.quote_name
    columns = ", ".join(quote(name) for name in values)
    marks = ", ".join(["%s"] * len(values))
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {quote(table)} ({columns}) VALUES ({marks}) RETURNING id", list(values.values()))
        return int(cursor.fetchone()[0])


def crontab(
    minute: str = "*",
    hour: str = "*",
    day_of_month: str = "*",
    month_of_year: str = "*",
    day_of_week: str = "*",
    timezone: str = "UTC",
) -> int:
    return _insert(
        "django_celery_beat_crontabschedule",
        {
            "minute": minute,
            "hour": hour,
            "day_of_month": day_of_month,
            "month_of_year": month_of_year,
            "day_of_week": day_of_week,
            "timezone": timezone,
        },
    )


def interval(every: int, period: str) -> int:
    return _insert("django_celery_beat_intervalschedule", {"every": every, "period": period})


def clocked(at: datetime) -> int:
    return _insert("django_celery_beat_clockedschedule", {"clocked_time": at})


def solar(event: str = "sunrise", latitude: str = "40.712800", longitude: str = "-74.006000") -> int:
    return _insert("django_celery_beat_solarschedule", {"event": event, "latitude": latitude, "longitude": longitude})


def periodic_task(name: str, task: str, **fields: Any) -> int:
    """A PeriodicTask row; ``fields`` by column (``crontab_id``, ``args``, ``queue``, ``last_run_at``, ...)."""
    values: dict[str, Any] = {
        "name": name,
        "task": task,
        "args": "[]",
        "kwargs": "{}",
        "queue": None,
        "exchange": None,
        "routing_key": None,
        "headers": "{}",
        "priority": None,
        "expires": None,
        "expire_seconds": None,
        "one_off": False,
        "start_time": None,
        "enabled": True,
        "last_run_at": None,
        "total_run_count": 0,
        "date_changed": datetime.now(UTC),
        "description": "",
        "crontab_id": None,
        "interval_id": None,
        "clocked_id": None,
        "solar_id": None,
    }
    unknown = set(fields) - set(values)
    if unknown:
        raise TypeError(f"no such PeriodicTask column: {', '.join(sorted(unknown))}")
    return _insert("django_celery_beat_periodictask", {**values, **fields})


def update_task(name: str, **fields: Any) -> None:
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(column)} = %s" for column in fields)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE django_celery_beat_periodictask SET {assignments} WHERE name = %s", [*fields.values(), name]
        )


def task_rows() -> dict[str, dict[str, Any]]:
    """Every PeriodicTask as a dict of its columns, by name."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM django_celery_beat_periodictask")
        names = [column[0] for column in cursor.description]
        return {row[names.index("name")]: dict(zip(names, row, strict=True)) for row in cursor.fetchall()}


def set_last_update(at: datetime) -> None:
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO django_celery_beat_periodictasks (ident, last_update) VALUES (1, %s)", [at])


def last_update() -> datetime | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT last_update FROM django_celery_beat_periodictasks WHERE ident = 1")
        found = cursor.fetchone()
        return found[0] if found else None
