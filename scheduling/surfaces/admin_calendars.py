"""The exclusion calendars' admin: dates and crons typed one per line, the schedules attached shown.

Its form (``calendar_form``) is the schedules pages' too. Validation is the model's (``Calendar.clean``,
the core's ``calendars.validate``), as at every door:
an error names the field and the item (``dates[2]: '2026-02-30' is not a date; use YYYY-MM-DD``).
"""

from __future__ import annotations

from typing import Any, cast

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from orchestrator.admin_helpers import RefusalsMixin, ValuesInHistoryMixin, muted
from scheduling.models import Calendar
from scheduling.surfaces.calendar_form import CalendarForm

#: How many attached schedules the list column names before "and N more".
SHOWN_SCHEDULES = 5


class CalendarAdmin(RefusalsMixin, ValuesInHistoryMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    form = CalendarForm
    list_display = ("name", "timezone", "dates_column", "crons_column", "schedules_column")
    search_fields = ("name", "description")
    readonly_fields = ("attached_schedules", "created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("name", "description", "timezone")}),
        ("Excluded", {"fields": ("dates", "crons")}),
        ("Used by", {"fields": ("attached_schedules", "created_at", "updated_at")}),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        rows: QuerySet[Any] = super().get_queryset(request)
        return cast(QuerySet[Any], rows.annotate(schedule_count=Count("schedules")).prefetch_related("schedules"))

    @admin.display(description="dates")
    def dates_column(self, obj: Calendar) -> str:
        dates = list(obj.dates or [])
        if not dates:
            return "—"
        return ", ".join(dates[:3]) + (f" and {len(dates) - 3} more" if len(dates) > 3 else "")

    @admin.display(description="crons")
    def crons_column(self, obj: Calendar) -> SafeString:
        crons = list(obj.crons or [])
        return format_html_join(", ", "<code>{}</code>", ((c,) for c in crons)) if crons else muted("—")

    @admin.display(description="schedules", ordering="schedule_count")
    def schedules_column(self, obj: Calendar) -> SafeString:
        return self._schedules(obj, limit=SHOWN_SCHEDULES)

    @admin.display(description="schedules attached")
    def attached_schedules(self, obj: Calendar | None) -> SafeString:
        if obj is None or obj.pk is None:
            return muted("none yet: attach it on a schedule's page")
        return self._schedules(obj, limit=None)

    def _schedules(self, obj: Calendar, *, limit: int | None) -> SafeString:
        schedules = sorted(obj.schedules.all(), key=lambda s: s.name)
        if not schedules:
            return muted("none")
        shown = schedules if limit is None else schedules[:limit]
        links = format_html_join(
            ", ",
            '<a href="{}">{}</a>',
            ((reverse("admin:scheduling_schedule_change", args=[s.pk]), s.name) for s in shown),
        )
        more = len(schedules) - len(shown)
        return format_html("{} and {} more", links, more) if more else links
