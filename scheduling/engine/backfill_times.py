"""A backfill's fire times: listed from a cursor in batches, and counted within a time budget.

Counting is what a request pays before anything is recorded (the cap, the dry run's total): a
cron's fire times are counted a day at a time, and a range still too long to count quickly is
refused with advice rather than holding the request.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from orchestrator.errors import ValidationError
from scheduling.core import timing

#: The longest a request may spend counting a cron schedule's fire times in its range.
COUNT_BUDGET_SECONDS = 5.0
_TICK = timedelta(microseconds=1)
#: A cron range is counted a stretch at a time, the cap and the budget checked between stretches.
_STRETCH = timedelta(days=366)


def fire_times_from(
    schedule: timing.TimingSpec, start: datetime, end: datetime, limit: int
) -> tuple[list[datetime], datetime | None]:
    """Fire times in ``[start, end)``, oldest first, at most ``limit``; and the next one left out (or None)."""
    found: list[datetime] = []
    for moment in timing.iter_fire_times(schedule, start - _TICK):
        if moment >= end:
            return found, None
        if len(found) >= limit:
            return found, moment
        found.append(moment)
    return found, None


def count_fire_times(schedule: timing.TimingSpec, start: datetime, end: datetime, cap: int) -> int:
    """Fire times in ``[start, end)``; counting stops past ``cap`` (the result is then ``cap + 1``).

    Interval and one-off counts are arithmetic. A cron's is counted a day at a time
    (``timing.count_cron_fire_times``: 100,000 minutes in milliseconds), a year's stretch after
    another, so a range of centuries stops at ``cap``; a range still too long to count in
    ``COUNT_BUDGET_SECONDS`` (centuries of a cron that fires on few days) is refused with advice to
    split it (a 400, not a hung request).
    """
    exact = timing.count_fire_times(schedule, start - _TICK, end - _TICK)
    if exact is not None:
        return min(exact, cap + 1)
    deadline = time.monotonic() + COUNT_BUDGET_SECONDS
    count = 0
    lower, last = start - _TICK, end - _TICK  # (lower, last]: [start, end) as the counts take it
    while lower < last and count <= cap:
        upper = min(lower + _STRETCH, last)
        count += timing.count_cron_fire_times(schedule, lower, upper)
        lower = upper
        if lower < last and count <= cap and time.monotonic() > deadline:
            raise ValidationError(
                {
                    "end": [
                        f"the range is too long to count its cron fire times in {COUNT_BUDGET_SECONDS:.0f}s "
                        f"(more than {count} so far); split it into shorter ranges"
                    ]
                }
            )
    return min(count, cap + 1)
