"""``manage.py events last|index|tail`` on a known event log with a corrupted line (no database)."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

LOG = [
    {"ts": "2026-11-23T10:00:00.000Z", "event": "schedule_enqueued", "schedule": "nightly", "schedule_id": 1,
     "scheduled_for": "2026-11-23T10:00:00.000Z", "run_id": "r1", "job": "noop", "trigger": "schedule"},
    {"ts": "2026-11-23T10:00:01.000Z", "event": "run_started", "schedule": "nightly", "schedule_id": 1,
     "run_id": "r1", "job": "noop", "worker": "w1@host"},
    {"ts": "2026-11-23T10:00:02.000Z", "event": "run_finished", "schedule": "nightly", "schedule_id": 1,
     "run_id": "r1", "job": "noop", "status": "succeeded", "duration_ms": 12},
    {"ts": "2026-11-23T10:01:00.000Z", "event": "run_skipped", "schedule": "hourly", "schedule_id": 2,
     "scheduled_for": "2026-11-23T10:01:00.000Z", "reason": "run r0 of this schedule is still active"},
    {"ts": "2026-11-23T10:02:00.000Z", "event": "run_finished", "schedule": "hourly", "schedule_id": 2,
     "run_id": "r2", "job": "fail", "status": "failed", "duration_ms": 5, "error": "JobFailed: disk on fire\nmore"},
]  # fmt: skip


@pytest.fixture
def log(tmp_path: Path) -> Path:
    path = tmp_path / "events.jsonl"
    lines = [json.dumps(event) for event in LOG]
    lines.insert(2, '{"ts": "2026-11-23T10:00:01.500Z", "event": "run_st')  # a torn line
    lines.insert(4, "\x00\x01 binary junk")
    path.write_text("\n".join(lines) + "\n")
    return path


def _run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("events", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_last_is_newest_first_and_skips_corrupted_lines(log: Path):
    out, _ = _run("--path", str(log), "last")
    lines = out.strip().splitlines()
    assert len(lines) == 5
    assert lines[0].startswith("2026-11-23T10:02:00.000Z  run_finished       hourly")
    assert "status=failed" in lines[0] and "error='JobFailed: disk on fire'" in lines[0] and "more" not in lines[0]
    assert lines[-1].startswith("2026-11-23T10:00:00.000Z  schedule_enqueued  nightly")
    assert "scheduled_for=2026-11-23T10:00:00.000Z  run_id=r1  job=noop  trigger=schedule" in lines[-1]


def test_skipped_corrupted_lines_are_reported_on_stderr(log: Path, tmp_path: Path):
    _, err = _run("--path", str(log), "last")
    assert err.strip() == f"skipped 2 corrupted lines in {log}"
    _, err = _run("--path", str(log), "index", "schedule")
    assert err.strip() == f"skipped 2 corrupted lines in {log}"
    clean = tmp_path / "clean.jsonl"
    clean.write_text("\n".join(json.dumps(event) for event in LOG) + "\n")
    assert _run("--path", str(clean), "last") == (_run("--path", str(clean), "last")[0], "")


def test_last_filters_limit_and_json(log: Path):
    out, _ = _run("--path", str(log), "last", "--event", "run_finished", "--limit", "1", "--json")
    assert [json.loads(line) for line in out.strip().splitlines()] == [LOG[4]]
    out, _ = _run("--path", str(log), "last", "--schedule", "1", "--json")
    assert [json.loads(line)["event"] for line in out.strip().splitlines()] == [
        "run_finished",
        "run_started",
        "schedule_enqueued",
    ]
    out, _ = _run("--path", str(log), "last", "--schedule", "hourly", "--run", "r2")
    assert len(out.strip().splitlines()) == 1
    out, err = _run("--path", str(log), "last", "--event", "run_missed")
    assert out == "" and "no matching events" in err
    with pytest.raises(CommandError):
        _run("--path", str(log), "last", "--limit", "0")


def test_index_groups_by_a_field(log: Path):
    out, _ = _run("--path", str(log), "index", "schedule")
    lines = out.strip().splitlines()
    assert lines[0].split() == ["SCHEDULE", "EVENTS", "LAST", "EVENT", "LAST", "STATUS", "LAST", "AT"]
    assert lines[1].split() == ["hourly", "2", "run_finished", "failed", "2026-11-23T10:02:00.000Z"]
    assert lines[2].split() == ["nightly", "3", "run_finished", "succeeded", "2026-11-23T10:00:02.000Z"]
    grouped = json.loads(_run("--path", str(log), "index", "status", "--json")[0])
    assert set(grouped) == {"succeeded", "failed"}
    _, err = _run("--path", str(log), "index", "tenant")
    assert "no recent events have a 'tenant' field" in err


def test_a_missing_log_is_empty_not_an_error(tmp_path: Path):
    out, err = _run("--path", str(tmp_path / "absent.jsonl"), "last")
    assert out == "" and "no matching events" in err
