"""The log formatters: the event log's keys, datetimes as the event log writes them, one line per record."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime, timedelta, timezone

from project.logging import JsonFormatter, KeyValueFormatter


def _record(**extra) -> logging.LogRecord:
    record = logging.LogRecord("scheduling.ops.observe", logging.INFO, __file__, 1, "dispatched %s", ("nightly",), None)
    record.__dict__.update(extra)
    return record


def test_key_value_lines_carry_the_context_keys():
    when = datetime(2030, 1, 1, 3, 0, tzinfo=timezone(timedelta(hours=1)))
    line = KeyValueFormatter().format(
        _record(event="schedule_enqueued", schedule_id=7, run_id="r1", scheduled_for=when)
    )
    assert line.endswith(
        "INFO scheduling.ops.observe dispatched nightly event=schedule_enqueued schedule_id=7 "
        "scheduled_for=2030-01-01T02:00:00.000Z run_id=r1"
    )


def test_json_lines_are_one_object_even_with_a_traceback():
    try:
        raise ValueError("boom\nsecond line")
    except ValueError:
        record = _record(event="run_finished", run_id="r1", schedule_id=3, duration_ms=12)
        record.exc_info = sys.exc_info()
    text = JsonFormatter().format(record)
    assert "\n" not in text
    payload = json.loads(text)
    assert payload["event"] == "run_finished" and payload["schedule_id"] == 3 and payload["duration_ms"] == 12
    assert payload["message"] == "dispatched nightly" and payload["logger"] == "scheduling.ops.observe"
    assert "ValueError: boom" in payload["exc_info"]
    assert payload["ts"].endswith("Z")
    assert datetime.fromisoformat(payload["ts"].replace("Z", "+00:00")).tzinfo == UTC
