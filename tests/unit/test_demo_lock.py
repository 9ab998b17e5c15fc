"""One demo per var/ folder, and what its live feed prints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from project import demo_lock
from project.management.commands.demo import feed_line


def test_a_second_demo_is_refused_at_once_and_leaves_the_lock_file_alone(tmp_path: Path) -> None:
    first = demo_lock.acquire(tmp_path)
    first.describe(url="http://127.0.0.1:8000/admin/")
    before = (tmp_path / "demo.lock").read_bytes()
    with pytest.raises(demo_lock.DemoAlreadyRunning, match=r"already running .*pid \d+, http://127.0.0.1:8000/admin/"):
        demo_lock.acquire(tmp_path)
    assert (tmp_path / "demo.lock").read_bytes() == before
    assert json.loads(before)["url"] == "http://127.0.0.1:8000/admin/"
    first.release()
    demo_lock.acquire(tmp_path).release()  # free again once the first one is gone


def test_the_feed_prints_cancelled_runs_with_their_reason() -> None:
    line = feed_line(
        {
            "ts": "2026-12-07T03:00:01.000Z",
            "event": "run_cancelled",
            "schedule": "sleepy",
            "job": "sleep",
            "status": "cancelled",
            "reason": "cancelled by admin in the admin",
        }
    )
    assert line is not None
    assert line.startswith("03:00:01 run_cancelled") and "sleepy" in line and "cancelled by admin" in line
    assert feed_line({"event": "run_started"}) is None
