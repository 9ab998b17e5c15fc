"""One way to show a moment everywhere: ISO-like, in the schedule's zone, with UTC beside it.

``2026-12-07 09:30:00 CET (08:30 UTC)``; a moment in UTC shows one time
(``2026-12-07 08:30:00 UTC``); when the UTC date differs it is shown too
(``2026-12-07 00:30:00 CET (2026-12-06 23:30 UTC)``). Never Django's localised
"Dec. 6, 2026, 9:31 p.m." and never the browser's locale. Pure: no clock, no settings.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

NOTHING = "—"


def _zone(name: str | None) -> ZoneInfo | None:
    if not name or name.upper() in ("UTC", "ETC/UTC", "Z"):
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _clock(moment: datetime) -> str:
    return f"{moment:%H:%M}" if moment.second == 0 and moment.microsecond == 0 else f"{moment:%H:%M:%S}"


def moment_text(moment: datetime | None, zone: str | None = None) -> str:
    """``moment`` (aware; a naive one is taken as UTC) in ``zone`` with UTC beside it; ``—`` for None.

    An unknown zone name shows UTC only, never an error: the text is for reading.
    """
    if moment is None:
        return NOTHING
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    utc = moment.astimezone(UTC)
    tz = _zone(zone)
    if tz is None:
        return f"{utc:%Y-%m-%d %H:%M:%S} UTC"
    local = moment.astimezone(tz)
    if not local.utcoffset():  # the same wall time as UTC (London in winter): one time
        return f"{local:%Y-%m-%d %H:%M:%S} {local.tzname()}"
    beside = _clock(utc) if local.date() == utc.date() else f"{utc:%Y-%m-%d} {_clock(utc)}"
    return f"{local:%Y-%m-%d %H:%M:%S} {local.tzname()} ({beside} UTC)"


def parse_moment(text: str | None) -> datetime | None:
    """An ISO 8601 text (as the snapshot and the events store it, ``Z`` allowed) as an aware datetime."""
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
