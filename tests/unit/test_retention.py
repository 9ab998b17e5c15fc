"""Retention's pure parts: ages and event-log rotation."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from orchestrator import retention
from orchestrator.errors import ValidationError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30d", timedelta(days=30)),
        ("12h", timedelta(hours=12)),
        ("90m", timedelta(minutes=90)),
        ("3600s", timedelta(hours=1)),
        ("2w", timedelta(days=14)),
        (" 7D ", timedelta(days=7)),
    ],
)
def test_ages(text, expected):
    assert retention.parse_age(text) == expected


@pytest.mark.parametrize("text", ["30", "0d", "-1d", "d", "1y", "1.5d", "30 days", ""])
def test_bad_ages_name_the_field(text):
    with pytest.raises(ValidationError) as caught:
        retention.parse_age(text)
    assert "older_than" in caught.value.errors and "e.g. 30d" in str(caught.value)


def test_rotation_keeps_a_bounded_number_of_files(tmp_path: Path):
    log = tmp_path / "events.jsonl"
    for generation in range(5):
        log.write_text(f"generation {generation}\n" * 10)
        rotation = retention.rotate_event_log(log, max_bytes=20, keep_files=3, dry_run=False)
        assert rotation.rotated and not log.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["events.jsonl.1", "events.jsonl.2", "events.jsonl.3"]
    assert (tmp_path / "events.jsonl.1").read_text().startswith("generation 4")
    assert (tmp_path / "events.jsonl.3").read_text().startswith("generation 2")


def test_small_or_missing_logs_are_left_alone(tmp_path: Path):
    log = tmp_path / "events.jsonl"
    assert not retention.rotate_event_log(log, max_bytes=10, keep_files=2, dry_run=False).rotated
    log.write_text("tiny\n")
    assert not retention.rotate_event_log(log, max_bytes=10, keep_files=2, dry_run=False).rotated
    assert log.read_text() == "tiny\n"
