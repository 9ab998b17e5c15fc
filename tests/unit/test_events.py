"""The JSONL event store: append, read back, corrupted lines, grouping, concurrent writers."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from orchestrator import events
from tests.processes import ROOT


def test_record_adds_timestamp_creates_folders_and_reads_back(tmp_path: Path):
    path = tmp_path / "deep" / "er" / "state.jsonl"
    written = events.record_event({"event": "run_started", "run_id": "r1"}, path=path)
    assert written["ts"].endswith("Z") and "T" in written["ts"]
    assert events.last_runs(path=path) == [written]
    kept = events.record_event({"event": "run_finished", "ts": "2026-01-01T00:00:00.000Z"}, path=path)
    assert kept["ts"] == "2026-01-01T00:00:00.000Z"


def test_last_runs_is_newest_first_and_limited(tmp_path: Path):
    path = tmp_path / "state.jsonl"
    for index in range(30):
        events.record_event({"event": "run_finished", "n": index}, path=path)
    recent = events.last_runs(limit=5, path=path)
    assert [e["n"] for e in recent] == [29, 28, 27, 26, 25]
    assert len(events.last_runs(path=path)) == 20
    assert events.last_runs(limit=0, path=path) == []


def test_missing_and_empty_files_give_nothing(tmp_path: Path):
    assert events.last_runs(path=tmp_path / "absent.jsonl") == []
    assert events.index_by("schedule_id", path=tmp_path / "absent.jsonl") == {}
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert events.last_runs(path=empty) == []


def test_corrupted_lines_are_skipped(tmp_path: Path):
    path = tmp_path / "state.jsonl"
    events.record_event({"event": "a"}, path=path)
    with open(path, "ab") as handle:
        handle.write(b'{"event": "torn", "run_\n')  # a torn write
        handle.write(b"\xff\xfe\x00binary junk\n")
        handle.write(b'["a list, not an object"]\n')
        handle.write(b"\n")
    events.record_event({"event": "b"}, path=path)
    with open(path, "ab") as handle:
        handle.write(b'{"event": "no newline at the end"')
    assert [e["event"] for e in events.last_runs(path=path)] == ["b", "a"]
    assert [e["event"] for e in events.iter_events(path)] == ["a", "b"]


def test_reads_across_block_boundaries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(events, "_READ_BLOCK", 64)
    path = tmp_path / "state.jsonl"
    for index in range(50):
        events.record_event({"event": "x", "n": index, "pad": "y" * (index % 7) * 10}, path=path)
    assert [e["n"] for e in events.last_runs(limit=50, path=path)] == list(range(49, -1, -1))


def test_index_by_groups_the_last_events_by_a_field(tmp_path: Path):
    path = tmp_path / "state.jsonl"
    for index in range(10):
        events.record_event({"event": "run_finished", "schedule_id": index % 3, "n": index}, path=path)
    events.record_event({"event": "no_schedule"}, path=path)
    grouped = events.index_by("schedule_id", path=path)
    assert set(grouped) == {"0", "1", "2"}
    assert [e["n"] for e in grouped["0"]] == [0, 3, 6, 9]
    limited = events.index_by("schedule_id", limit=4, path=path)  # the last 4 events: n=7, 8, 9 and no_schedule
    assert {key: [e["n"] for e in value] for key, value in limited.items()} == {"1": [7], "2": [8], "0": [9]}


def test_values_are_serialised(tmp_path: Path):
    import uuid
    from datetime import UTC, datetime

    path = tmp_path / "state.jsonl"
    run_id = uuid.uuid4()
    events.record_event({"event": "x", "run_id": run_id, "scheduled_for": datetime(2026, 1, 1, tzinfo=UTC)}, path=path)
    line = json.loads(path.read_text())
    assert line["run_id"] == str(run_id) and line["scheduled_for"] == "2026-01-01T00:00:00.000Z"


def test_emit_never_raises_and_counts_failures(tmp_path: Path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    before = events.write_failures()
    assert events.emit([{"event": "x"}], path=blocker / "cannot" / "exist.jsonl") is False
    assert events.write_failures() == before + 1
    assert events.emit([{"event": "x"}], path=tmp_path / "ok.jsonl") is True


APPEND_MANY = """
import sys
from orchestrator import events

path, worker, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for index in range(count):
    events.record_event({"event": "load", "worker": worker, "n": index, "pad": "z" * 300}, path=path)
"""


def test_concurrent_appends_from_many_processes_never_interleave(tmp_path: Path):
    # Fresh interpreters, not forks: a fork of the (threaded) test process can inherit a held lock.
    path = tmp_path / "state.jsonl"
    writers = [
        subprocess.Popen([sys.executable, "-c", APPEND_MANY, str(path), str(w), "500"], cwd=ROOT) for w in range(4)
    ]
    try:
        assert [writer.wait(timeout=120) for writer in writers] == [0, 0, 0, 0]
    finally:
        for writer in writers:
            if writer.poll() is None:
                writer.kill()
                writer.wait()
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b""
    parsed = [json.loads(line) for line in lines[:-1]]
    assert len(parsed) == 2000
    assert {(e["worker"], e["n"]) for e in parsed} == {(w, n) for w in range(4) for n in range(500)}


def test_events_for_run_stops_at_the_runs_creation_and_parses_only_its_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    path = tmp_path / "state.jsonl"
    created = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)

    def at(moment: datetime) -> str:
        return events.utc_stamp(moment)

    stale = created - events.CLOCK_SKEW - timedelta(seconds=1)
    events.record_events(
        [
            {"ts": at(stale), "event": "run_started", "run_id": "r1"},  # before the bound: never reached
            *({"ts": at(stale), "event": "run_finished", "run_id": f"other-{i}"} for i in range(50)),
            {"ts": at(created - timedelta(seconds=2)), "event": "schedule_enqueued", "run_id": "r1"},  # skewed clock
            *({"ts": at(created), "event": "run_finished", "run_id": f"other-{i}"} for i in range(50)),
            {"ts": at(created + timedelta(seconds=1)), "event": "run_started", "run_id": "r1", "note": "mentions r2"},
            {"ts": at(created + timedelta(seconds=2)), "event": "run_finished", "run_id": "r2"},
            {"ts": at(created + timedelta(seconds=3)), "event": "run_finished", "run_id": "r1"},
        ],
        path=path,
    )
    parsed: list[bytes] = []
    real_parse = events._parse

    def counting_parse(line: bytes) -> events.Event | None:
        parsed.append(line)
        return real_parse(line)

    monkeypatch.setattr(events, "_parse", counting_parse)
    found = events.events_for_run("r1", path=path, since=created)
    assert [e["event"] for e in found] == ["schedule_enqueued", "run_started", "run_finished"]  # oldest first
    assert all(b"r1" in line for line in parsed) and len(parsed) == 3  # no other run's line was parsed
    # without a bound, the whole log is read
    assert len(events.events_for_run("r1", path=path)) == 4 and events.events_for_run("r1", path=path)[0][
        "ts"
    ] < events.utc_stamp(created)
    assert [e["event"] for e in events.events_for_run("r2", path=path, since=created)] == ["run_finished"]
    assert events.events_for_run("r1", path=path, since=created, limit=2)[-1]["event"] == "run_finished"
