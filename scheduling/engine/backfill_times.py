"""A backfill's fire times: listed from a cursor in batches, and counted within a time budget.

Counting is what a request pays before anything is recorded (the cap, the dry run's total), so a
range too long to count quickly is refused with advice rather than holding the request.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from orchestrator.errors import ValidationError
from scheduling.core import timing

#: The longest a request may spend counting a cron schedule's fire times in its range.
COUNT_BUDGET_SECONDS = 5.0
_TICK = timedelta(microseconds=1)


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

    Interval and one-off counts are arithmetic. A cron's must be walked (~65 µs a fire time), so
    the walk has a time budget: a request answers in seconds, and a range too long to count in
    ``COUNT_BUDGET_SECONDS`` is refused with advice to split it (a 400, not a hung request).
    """
    exact = timing.count_fire_times(schedule, start - _TICK, end - _TICK)
    if exact is not None:
        return min(exact, cap + 1)
    deadline = time.monotonic() + COUNT_BUDGET_SECONDS
    count = 0
    for moment in timing.iter_fire_times(schedule, start - _TICK):
        if moment >= end or count > cap:
            break
        count += 1
        if count % 1000 == 0 and time.monotonic() > deadline:
            raise ValidationError(
                {
                    "end": [
                        f"the range is too long to count its cron fire times in {COUNT_BUDGET_SECONDS:.0f}s "
                        f"(more than {count} so far); split it into shorter ranges"
                    ]
                }
            )
    return count
