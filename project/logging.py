"""Log lines that match the JSONL event vocabulary.

A record logged with ``extra={"event": ..., "run_id": ...}`` prints as
``2026-11-23T10:00:00.123Z INFO scheduling.dispatch dispatched 3 occurrences event=schedule_enqueued run_id=...``
so ``grep event=run_finished`` works on logs and on the event log alike.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

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
                text = str(value)
                parts.append(f"{key}={text!r}" if " " in text else f"{key}={text}")
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line
