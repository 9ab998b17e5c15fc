"""Metric labels for skipped and missed occurrences stay bounded, whatever the policies' wording."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from scheduling.core import policies
from scheduling.core.policies import Due
from scheduling.ops.metrics import reason_code

T0 = datetime(2030, 1, 1, tzinfo=UTC)


def _due(*seconds_ago: int, now: datetime) -> list[Due]:
    return [Due(scheduled_for=now - timedelta(seconds=s), due_at=now - timedelta(seconds=s)) for s in seconds_ago]


@pytest.mark.parametrize(
    ("policy", "code"),
    [("skip", "overlap_skip"), ("buffer_one", "overlap_buffer_one"), ("replace", "overlap_replace")],
)
def test_overlap_reasons(policy: str, code: str):
    now = T0
    decisions = policies.overlap(_due(20, 10, 0, now=now), policy=policy, active_run_ids=["r1"], buffered=0)
    reasons = {reason_code(d.reason) for d in decisions if d.action == policies.Action.SKIP}
    assert reasons == {code}


@pytest.mark.parametrize(
    ("policy", "code"),
    [("skip", "misfire_skip"), ("run_once", "misfire_run_once"), ("run_all", "misfire_run_all")],
)
def test_misfire_reasons(policy: str, code: str):
    now = T0
    _, missed = policies.misfire(
        _due(300, 200, 100, now=now), now=now, policy=policy, late_after=timedelta(seconds=30), max_catchup=1
    )
    assert missed and {reason_code(d.reason) for d in missed} == {code}


def test_grace_and_unknown_reasons():
    assert reason_code("older than the misfire grace (3600s)") == "misfire_grace"
    assert reason_code("12 occurrences from x to before y older than the misfire grace (60s)") == "misfire_grace"
    assert reason_code("something new") == "other"
