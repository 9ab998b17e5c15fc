"""Statements on the hot paths (dispatch, publish), bound server-side on PostgreSQL.

Django's psycopg 3 cursors bind parameters on the client: every value is quoted into the SQL
text, which costs more than the database's own work for a batch of thousands of rows. The hot
statements pass whole columns as arrays (``unnest(%s::uuid[], ...)``) through a server-side
binding cursor on Django's own connection (same transaction). Each statement is still recorded in
Django's query log when logging is on, so query-count tests see it.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, InterfaceError, OperationalError, connection, connections

logger = logging.getLogger(__name__)

T = TypeVar("T")


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


def execute(
    sql: str, params: Sequence[Any], *, fetch: bool = False, binary: bool = False, prepare: bool = False
) -> list[tuple[Any, ...]]:
    """Run one statement; server-side binding on PostgreSQL, Django's cursor elsewhere.

    ``binary`` reads the results in PostgreSQL's binary format. The parameters' format is the
    placeholder's: write ``%b`` for the column arrays of the hot statements. With ``%s`` psycopg
    sends a list as a text array, quoting and escaping every element (about 40 µs per element of
    a JSON text array, measured); in binary it costs under 1 µs. ``prepare`` prepares the
    statement on the connection the first time and reuses the plan afterwards (for the worker's
    per-run statements; ``settings.DB_PREPARED_STATEMENTS`` turns it off).
    """
    # The connection itself, not the ``connection`` proxy: each attribute read through the proxy
    # looks the connection up again (an asgiref context-local lookup, several per statement).
    conn = connections[DEFAULT_DB_ALIAS]
    if conn.vendor != "postgresql":
        with conn.cursor() as cursor:
            cursor.execute(sql, params)
            return list(cursor.fetchall()) if fetch else []
    import psycopg

    conn.ensure_connection()
    started = time.monotonic()
    with conn.wrap_database_errors, psycopg.Cursor(conn.connection) as cursor:
        cursor.execute(sql, params, prepare=prepare and settings.DB_PREPARED_STATEMENTS, binary=binary)
        rows = list(cursor.fetchall()) if fetch else []
    if conn.queries_logged:
        conn.queries_log.append({"sql": sql, "time": f"{time.monotonic() - started:.3f}"})
    return rows


def as_utc(value: Any) -> datetime | None:
    """A datetime read from a raw row: aware on PostgreSQL, UTC text on SQLite; None stays None."""
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is UTC:
            return value  # PostgreSQL's rows: already UTC (the connection's time zone)
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)


def db_datetime(value: datetime | None) -> Any:
    """A datetime as a raw statement parameter (SQLite keeps UTC text)."""
    if value is None or is_postgres():
        return value
    return connection.ops.adapt_datetimefield_value(value)


def patiently(action: Callable[[], T], *, what: str) -> T:
    """``action()``, tried again while the database is unreachable, for ``SCHEDULER_DB_PATIENCE_SECONDS``.

    For single autocommit statements that are safe to repeat (a compare-and-set): after each
    connection error the broken connection is closed, so the next try opens a fresh one once the
    server is back. Inside a transaction nothing is retried (the transaction is lost anyway).
    Raises the last error when patience runs out.
    """
    deadline = time.monotonic() + float(settings.SCHEDULER_DB_PATIENCE_SECONDS)
    delay = 0.2
    while True:
        try:
            return action()
        except (OperationalError, InterfaceError) as exc:
            if connection.in_atomic_block or time.monotonic() + delay > deadline:
                raise
            logger.warning("database unavailable to %s (%s); trying again in %.1fs", what, exc, delay)
            with contextlib.suppress(Exception):
                connection.close()
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
