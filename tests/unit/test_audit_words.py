"""How an audited edit of a schedule is named, and how values are made JSON-safe (pure, no database)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from orchestrator.audit import json_value
from orchestrator.models import RunStatus
from scheduling.surfaces.audit_words import schedule_action

PAUSED = {"enabled": {"before": True, "after": False}, "pause_note": {"before": "", "after": "freeze"}}
RESUMED = {"enabled": {"before": False, "after": True}, "paused_at": {"before": "x", "after": None}}


@pytest.mark.parametrize(
    ("action", "changes", "named"),
    [
        ("created", {"enabled": {"before": None, "after": True}}, "created"),
        ("changed", {"cron": {"before": "0 2 * * *", "after": "0 3 * * *"}}, "changed"),
        ("changed", PAUSED, "paused"),
        (
            "changed",
            {"enabled": {"before": False, "after": True}, "paused_at": {"before": "x", "after": None}},
            "resumed",
        ),
        ("changed", {"enabled": {"before": True, "after": False}}, "disabled"),
        ("changed", {"enabled": {"before": False, "after": True}}, "enabled"),
        ("deleted", PAUSED, "deleted"),
    ],
)
def test_an_edit_is_named_by_what_it_did(action: str, changes: dict[str, Any], named: str) -> None:
    assert schedule_action(action, changes) == named


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        (datetime(2026, 12, 7, 10, 0, tzinfo=timezone(timedelta(hours=1))), "2026-12-07T09:00:00+00:00"),
        (datetime(2026, 12, 7, 9, 0, tzinfo=UTC), "2026-12-07T09:00:00+00:00"),
        (date(2026, 12, 25), "2026-12-25"),
        (Decimal("1.50"), "1.50"),
        (RunStatus.FAILED, "failed"),
        ({"args": (1, 2), "at": datetime(2026, 1, 1, tzinfo=UTC)}, {"args": [1, 2], "at": "2026-01-01T00:00:00+00:00"}),
        (None, None),
        (True, True),
        (3, 3),
    ],
)
def test_values_are_stored_json_safe_and_times_in_utc(value: Any, stored: Any) -> None:
    assert json_value(value) == stored
