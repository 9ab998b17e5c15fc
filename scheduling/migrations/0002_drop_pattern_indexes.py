"""Drop the ``varchar_pattern_ops`` twins PostgreSQL's backend adds for ``Schedule.name`` and ``tenant``.

Django creates them for ``LIKE 'prefix%'`` look-ups, which nothing here makes (searches are
``icontains``, which they cannot serve; tenant filters are exact, served by the plain index). Every
dispatch moves each due schedule's ``due_at``, so PostgreSQL writes a new entry into every index of
the table per occurrence: two of eight were pure cost in a burst. The uniqueness of ``name`` and
the plain ``tenant`` index stay.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

_INDEXES = {
    "scheduling_schedule_name_c5177c0c_like": "name",
    "scheduling_schedule_tenant_b1764397_like": "tenant",
}


def _drop(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for index in _INDEXES:
        schema_editor.execute(f'DROP INDEX IF EXISTS "{index}"')


def _restore(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for index, column in _INDEXES.items():
        schema_editor.execute(
            f'CREATE INDEX IF NOT EXISTS "{index}" ON "scheduling_schedule" ("{column}" varchar_pattern_ops)'
        )


class Migration(migrations.Migration):
    dependencies = [("scheduling", "0001_initial")]

    operations = [migrations.RunPython(_drop, _restore)]
