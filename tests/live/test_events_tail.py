"""``manage.py events tail`` as a real process: the last lines, then each event appended, across a rotation."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from orchestrator import events
from tests.processes import Proc, Processes, wait_until
from tests.unit.test_events_cli import log as log  # the fixture: a known log with a torn and a binary line


def printed(tail: Proc) -> list[str]:
    """The event lines the command printed (a timestamp, the event, its fields)."""
    return [line for line in tail.output().splitlines() if len(line.split()) >= 2]


def test_tail_prints_the_last_lines_then_follows_appends(log: Path, tmp_path: Path):
    quiet = {**os.environ, "PYTHONUNBUFFERED": "1", "LOG_LEVEL": "WARNING"}  # only what the command prints
    procs = Processes(env=quiet, logs=tmp_path / "logs")
    try:
        tail = procs.start("tail", [sys.executable, "manage.py", "events", "--path", str(log), "tail", "-n", "2"])
        wait_until(lambda: len(printed(tail)) >= 2, timeout=30, message="the initial lines")
        with open(log, "a") as handle:
            handle.write('{"event": "run_started", "schedule": "la')  # half a line: held until it is complete
            handle.flush()
            time.sleep(0.6)
            handle.write('te", "run_id": "r9"}\n')
        wait_until(lambda: "late" in tail.output(), timeout=30, message="the appended event")
        assert [line.split()[1] for line in printed(tail)] == ["run_skipped", "run_finished", "run_started"]
        log.write_text("")  # truncated (rotated): starts over from the beginning
        events.record_event({"event": "run_finished", "schedule": "after-rotation"}, path=log)
        wait_until(lambda: "after-rotation" in tail.output(), timeout=30, message="an event after truncation")
    finally:
        procs.stop_all()
