"""API tokens as SHA-256 digests (``scheduling.ApiToken``), and the plain DRF tokens moved into them.

Every key in ``rest_framework.authtoken``'s table is copied as its digest and prefix, with its
creation time (so its age, and expiry, go on from where they were): clients keep working with the
keys they have. The plain keys are then deleted from that table, unless the project still has
``rest_framework.authtoken`` installed for its own use (a host project's table is the host's).

Reversing drops ``ApiToken`` and cannot bring plain keys back: issue new ones.
"""

from __future__ import annotations

import hashlib
from typing import Any

import django.db.models.deletion
from django.apps import apps as global_apps
from django.conf import settings
from django.db import migrations, models

PLAIN_TABLE = "authtoken_token"


def hash_plain_tokens(apps: Any, schema_editor: Any) -> None:
    connection = schema_editor.connection
    if PLAIN_TABLE not in connection.introspection.table_names():
        return
    api_token = apps.get_model("scheduling", "ApiToken")
    table = connection.ops.quote_name(PLAIN_TABLE)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT key, user_id, created FROM {table}")  # noqa: S608 (a constant table name)
        rows = cursor.fetchall()
    api_token.objects.bulk_create(
        [
            api_token(
                user_id=user_id,
                prefix=key[:12],
                digest=hashlib.sha256(key.encode()).hexdigest(),
                issued_at=created,
            )
            for key, user_id, created in rows
        ],
        ignore_conflicts=True,
    )
    if not global_apps.is_installed("rest_framework.authtoken"):
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {table}")  # noqa: S608


class Migration(migrations.Migration):
    dependencies = [
        ("scheduling", "0002_drop_pattern_indexes"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="ApiToken",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("prefix", models.CharField(db_index=True, help_text="The key's first characters.", max_length=12)),
                ("digest", models.CharField(help_text="SHA-256 of the key, in hex.", max_length=64, unique=True)),
                (
                    "issued_at",
                    models.DateTimeField(
                        help_text="When the key was created or last rotated; its age counts from here."
                    ),
                ),
                (
                    "user",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="api_token",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={"verbose_name": "API token", "verbose_name_plural": "API tokens"},
        ),
        migrations.RunPython(hash_plain_tokens, migrations.RunPython.noop, elidable=True),
    ]
