"""Dates and times on every page of the standalone project read ISO-like, never "Dec. 6, 2026, 9:31 p.m.".

The pages show times through ``orchestrator.timefmt`` (the schedule's zone with UTC beside it);
this is the fallback for whatever Django renders by itself (admin lists of plain date fields,
the History page). ``T`` is the zone's abbreviation: the project's ``TIME_ZONE`` is UTC.
"""

DATE_FORMAT = "Y-m-d"
SHORT_DATE_FORMAT = "Y-m-d"
DATETIME_FORMAT = "Y-m-d H:i:s T"
SHORT_DATETIME_FORMAT = "Y-m-d H:i:s T"
TIME_FORMAT = "H:i:s"
