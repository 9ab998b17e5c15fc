"""The bench's own services: a PostgreSQL database and a Redis database number, made and removed here.

A bench run takes a free slot the way the test suite does (the same lock files), so it never
shares a Redis db or a database with a test run on this machine. ``bench_env`` is the process
environment every child process gets.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import redis

from tests.slots import SLOTS, take_slot, try_slot

ROOT = Path(__file__).resolve().parent.parent
PG = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"


def _admin(sql: str) -> None:
    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(sql)


def drop_orphans(prefix: str) -> list[str]:
    """Drop the databases ``<prefix>_s<N>`` of the slots no run holds now; returns their names.

    A bench run that was killed (SIGKILL, a closed terminal) leaves its database behind, and only
    a later run that takes the same slot drops it: a seeded history is ~14 GiB. A slot held by a
    running test or bench run (its lock is taken, also by this process) keeps its database.
    """
    with psycopg.connect(PG, autocommit=True) as conn:
        names = {str(row[0]) for row in conn.execute("SELECT datname FROM pg_database")}
    dropped = []
    for slot in SLOTS:
        name = f"{prefix}_s{slot}"
        if name not in names:
            continue
        handle = try_slot(slot)
        if handle is None:
            continue  # in use
        try:
            _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            dropped.append(name)
        finally:
            handle.close()
    return dropped


@contextmanager
def services(prefix: str = "ostinato_bench") -> Iterator[dict[str, str]]:
    """Create the database ``<prefix>_s<slot>`` (migrated) and pick a Redis db; drop and flush both on the way out.

    Databases of this prefix that killed runs left in free slots are dropped first (``drop_orphans``).
    """
    found = take_slot()
    if found is None:
        raise SystemExit("error: every slot (Redis db 1..15) is taken by test or bench runs on this machine")
    slot, handle = found
    for orphan in drop_orphans(prefix):
        print(f"dropped {orphan}, left by a bench run that was killed", file=sys.stderr)
    name = f"{prefix}_s{slot}"
    scratch = Path(tempfile.mkdtemp(prefix="ostinato-bench-"))
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{name}",
        "REDIS_URL": f"redis://127.0.0.1:6379/{slot}",
        "DJANGO_SECRET_KEY": "bench-only-secret-key-not-for-production-use-0123456789",
        "DJANGO_DEBUG": "false",
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "SCHEDULER_VAR_DIR": str(scratch / "var"),
        "EVENTS_PATH": str(scratch / "events.jsonl"),
        "ARTIFACTS_DIR": str(scratch / "artifacts"),
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }
    _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _admin(f'CREATE DATABASE "{name}"')
    client = redis.Redis.from_url(env["REDIS_URL"])
    client.flushdb()
    try:
        subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
        yield env
    finally:
        client.flushdb()
        client.close()
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        shutil.rmtree(scratch, ignore_errors=True)  # its events, artifacts and metrics files
        handle.close()
