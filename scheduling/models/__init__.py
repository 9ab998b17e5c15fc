"""The scheduling app's tables: schedules, occurrences, exclusion calendars, backfills.

One module per table; everything is importable from ``scheduling.models`` as before.
"""

from scheduling.models.backfills import Backfill, BackfillStatus
from scheduling.models.calendars import Calendar
from scheduling.models.occurrences import OccurrenceStatus, ScheduledRun, ScheduledRunQuerySet
from scheduling.models.schedule_fields import (
    BEAT_FIELDS,
    OPTIONAL_NUMBERS,
    PAUSE_FIELDS,
    RANGES,
    TIMING_FIELDS,
    ScheduleSource,
)
from scheduling.models.schedules import Schedule, ScheduleQuerySet

# Registered with this app's models; kept beside the API that uses it.
from scheduling.surfaces.api.tokens import ApiToken

__all__ = [
    "BEAT_FIELDS",
    "OPTIONAL_NUMBERS",
    "PAUSE_FIELDS",
    "RANGES",
    "TIMING_FIELDS",
    "ApiToken",
    "Backfill",
    "BackfillStatus",
    "Calendar",
    "OccurrenceStatus",
    "Schedule",
    "ScheduleQuerySet",
    "ScheduleSource",
    "ScheduledRun",
    "ScheduledRunQuerySet",
]
