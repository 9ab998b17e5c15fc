"""One way to show a time: the schedule's zone, UTC beside it where it differs, ISO-like."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from orchestrator.timefmt import moment_text, parse_moment


@pytest.mark.parametrize(
    ("moment", "zone", "shown"),
    [
        (datetime(2026, 12, 7, 8, 30, tzinfo=UTC), "Europe/Berlin", "2026-12-07 09:30:00 CET (08:30 UTC)"),
        (datetime(2026, 7, 7, 8, 30, 15, tzinfo=UTC), "Europe/Berlin", "2026-07-07 10:30:15 CEST (08:30:15 UTC)"),
        (datetime(2026, 12, 7, 8, 30, tzinfo=UTC), "UTC", "2026-12-07 08:30:00 UTC"),
        (datetime(2026, 12, 7, 8, 30, tzinfo=UTC), None, "2026-12-07 08:30:00 UTC"),
        (datetime(2026, 12, 7, 8, 30, tzinfo=UTC), "Europe/London", "2026-12-07 08:30:00 GMT"),
        (datetime(2026, 12, 6, 23, 30, tzinfo=UTC), "Europe/Berlin", "2026-12-07 00:30:00 CET (2026-12-06 23:30 UTC)"),
        (datetime(2026, 12, 7, 8, 30, tzinfo=UTC), "Mars/Olympus", "2026-12-07 08:30:00 UTC"),
        (datetime(2026, 12, 7, 8, 30), "UTC", "2026-12-07 08:30:00 UTC"),
        (None, "Europe/Berlin", "—"),
    ],
)
def test_moment_text(moment: datetime | None, zone: str | None, shown: str) -> None:
    assert moment_text(moment, zone) == shown


def test_parse_moment_reads_the_event_logs_stamps() -> None:
    assert parse_moment("2026-11-24T02:00:00.000Z") == datetime(2026, 11, 24, 2, tzinfo=UTC)
    assert parse_moment("not a time") is None
    assert parse_moment("") is None
