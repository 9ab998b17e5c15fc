"""The schedule's admin page, read-only: upcoming fire times (excluded ones marked), the recent
occurrences with their outcome, and the occurrence counts; the same ``surfaces.overview`` as the API.

Also the occurrence lists' overdue mark. Rendered by ``scheduling/_overview.html`` below the form.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.utils.html import format_html
from django.utils.safestring import SafeString

from orchestrator.admin_helpers import status_badge
from scheduling.models import Schedule, ScheduledRun
from scheduling.surfaces import control_state, describe, overview


@dataclass(frozen=True, kw_only=True)
class Upcoming:
    local: str
    utc: str
    excluded: str | None


@dataclass(frozen=True, kw_only=True)
class Recent:
    scheduled_for: str
    status: str
    reason: str
    trigger: str
    missed_count: int
    overdue: bool
    run_id: str
    run_status: str


def overview_context(schedule: Schedule, *, now: datetime) -> dict[str, Any]:
    """What the admin's read-only section shows; three queries (calendars, recent, counts)."""
    zone = describe.zone_or_utc(schedule.timezone)

    def shown(stamp: str | None) -> str:
        if stamp is None:
            return "run now"
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        return f"{describe.format_local(moment, zone)} ({describe.format_utc(moment)})"

    upcoming = [
        Upcoming(
            local=describe.format_local(datetime.fromisoformat(item["local"]), zone),
            utc=describe.format_utc(datetime.fromisoformat(item["local"])),
            excluded=item["excluded"],
        )
        for item in overview.upcoming(schedule, now=now)
    ]
    recent = [
        Recent(
            scheduled_for=shown(item["scheduled_for"]),
            status=item["status"],
            reason=item["reason"],
            trigger=item["trigger"],
            missed_count=item["missed_count"],
            overdue=item["overdue"],
            run_id=item["run"]["id"] if item["run"] else "",
            run_status=item["run"]["status"] if item["run"] else "",
        )
        for item in overview.recent(schedule)
    ]
    counts = overview.counts(schedule)
    return {
        "upcoming": upcoming,
        "recent": recent,
        "counts": counts,
        "counted_over": overview.counted_over_text(counts),
        "upcoming_note": control_state.upcoming_note(schedule, upcoming),
        "paused": schedule.paused,
    }


def occurrence_badge(occurrence: ScheduledRun) -> SafeString:
    """The occurrence's status badge, with an ``overdue`` badge beside it when its run missed its deadline."""
    text = occurrence.get_status_display()
    if occurrence.missed_count > 1:
        text += f" ({occurrence.missed_count} occurrences)"
    badge = status_badge(occurrence.status, title=text)
    if occurrence.overdue_at is None:
        return badge
    return format_html(
        "{} {}", badge, status_badge("overdue", title=f"not finished by its deadline (seen {occurrence.overdue_at})")
    )
