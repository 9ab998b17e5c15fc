"""Log lines that match the JSONL event vocabulary.

A record logged with ``extra={"event": ..., "run_id": ...}`` prints as
``2026-11-23T10:00:00.123Z INFO scheduling.dispatch dispatched 3 occurrences event=schedule_enqueued run_id=...``
so ``grep event=run_finished`` works on logs and on the event log alike. ``LOG_FORMAT=json`` prints
the same record as one JSON object a line (``ts``, ``level``, ``logger``, ``message`` and the
context keys, named as in the JSONL event log), a traceback included as ``exc_info``.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import ImproperlyConfigured

#: Keys copied from a record's ``extra`` into the line, in this order.
CONTEXT_KEYS = (
    "event",
    "schedule",
    "schedule_id",
    "scheduled_for",
    "run_id",
    "job",
    "trigger",
    "status",
    "attempt",
    "worker",
    "duration_ms",
    "queue",
    "reason",
)


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        parts = [stamp, record.levelname, record.name, record.getMessage()]
        for key in CONTEXT_KEYS:
            value = record.__dict__.get(key)
            if value is not None and value != "":
                text = _text(value)
                parts.append(f"{key}={text!r}" if " " in text else f"{key}={text}")
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (a traceback is a field, never extra lines)."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        payload: dict[str, object] = {
            "ts": stamp,
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in CONTEXT_KEYS:
            value = record.__dict__.get(key)
            if value is not None and value != "":
                payload[key] = value if isinstance(value, int | float | bool) else _text(value)
        if record.exc_info:
            payload["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def _text(value: object) -> str:
    """Context values as the event log writes them: datetimes in UTC with a ``Z``, the rest as text."""
    if isinstance(value, datetime):
        moment = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return str(value)


def logging_config(level: str, output: str) -> dict[str, Any]:
    """Django's ``LOGGING``: everything to standard error, as ``keyvalue`` lines or ``json`` objects."""
    if output not in ("keyvalue", "json"):
        raise ImproperlyConfigured(f"LOG_FORMAT={output!r}: use keyvalue or json")
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "keyvalue": {"()": "project.logging.KeyValueFormatter"},
            "json": {"()": "project.logging.JsonFormatter"},
        },
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": output}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {"django.db.backends": {"level": "INFO"}, "kombu": {"level": "WARNING"}},
    }
