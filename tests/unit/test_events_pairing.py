"""The event log's pairing rule (no database): a run announced again after a failed publish counts once."""

from __future__ import annotations

import json
from pathlib import Path

from orchestrator import events


def _announced(run: str, **extra: object) -> events.Event:
    return {"event": "schedule_enqueued", "schedule": "nightly", "run_id": run, **extra}


def _failed(run: str) -> events.Event:
    return {"event": "run_publish_failed", "schedule": "nightly", "run_id": run, "error": "PublishError: refused"}


def _write(path: Path, lines: list[events.Event]) -> Path:
    stamped = [{"ts": f"2026-11-23T10:00:{index:02d}.000Z", **event} for index, event in enumerate(lines)]
    path.write_text("".join(json.dumps(event) + "\n" for event in stamped))
    return path


def test_the_last_announcement_of_each_run_is_kept_and_nothing_else_is_dropped():
    lines = [
        _announced("r1"),
        _failed("r1"),
        _announced("r2"),
        _announced("r1", recovered=True),
        _failed("r1"),  # recovery's publish failed too
        {"event": "run_started", "run_id": "r2"},
        _announced("r1", recovered=True),
        _announced("r3", recovered=True),  # a beat died before publishing: announced by recovery only
        {"event": "run_skipped", "schedule": "nightly"},
    ]
    kept = events.once_per_run(lines)
    assert [(e["event"], e.get("run_id"), e.get("recovered")) for e in kept] == [
        ("run_publish_failed", "r1", None),
        ("schedule_enqueued", "r2", None),
        ("run_publish_failed", "r1", None),
        ("run_started", "r2", None),
        ("schedule_enqueued", "r1", True),
        ("schedule_enqueued", "r3", True),
        ("run_skipped", None, None),
    ]


def test_index_counts_each_run_once_and_the_log_keeps_every_line(tmp_path: Path):
    log = _write(tmp_path / "events.jsonl", [_announced("r1"), _failed("r1"), _announced("r1", recovered=True)])
    by_event = events.index_by("event", path=log)
    assert {name: len(group) for name, group in by_event.items()} == {"schedule_enqueued": 1, "run_publish_failed": 1}
    assert by_event["schedule_enqueued"][0]["recovered"] is True
    assert [e["event"] for e in events.index_by("schedule", path=log)["nightly"]] == [
        "run_publish_failed",
        "schedule_enqueued",
    ]
    assert len(events.last_runs(10, path=log)) == 3 and len(list(events.iter_events(log))) == 3


def test_a_publish_still_failing_counts_one_announcement_and_its_failure(tmp_path: Path):
    log = _write(tmp_path / "events.jsonl", [_announced("r1"), _failed("r1")])
    grouped = events.index_by("event", path=log)
    assert {name: len(group) for name, group in grouped.items()} == {"schedule_enqueued": 1, "run_publish_failed": 1}


def test_a_window_holding_only_the_recovered_announcement_counts_it(tmp_path: Path):
    log = _write(tmp_path / "events.jsonl", [_announced("r1"), _failed("r1"), _announced("r1", recovered=True)])
    assert [e.get("recovered") for e in events.index_by("event", limit=1, path=log)["schedule_enqueued"]] == [True]
