"""The exclusion calendars' admin: dates and crons typed one per line, the schedules attached shown.

Validation is the model's (``Calendar.clean``, the core's ``calendars.validate``), as at every door:
an error names the field and the item (``dates[2]: '2026-02-30' is not a date; use YYYY-MM-DD``).
"""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from orchestrator.admin_helpers import RefusalsMixin, ValuesInHistoryMixin, muted
from scheduling.models import Calendar

#: How many attached schedules the list column names before "and N more".
SHOWN_SCHEDULES = 5


class LinesField(forms.CharField):
    """A list typed one item per line (blank lines ignored); shown the same way."""

    widget = forms.Textarea(attrs={"rows": 6, "cols": 40, "spellcheck": "false"})

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(required=False, **kwargs)

    def prepare_value(self, value: Any) -> Any:
        return "\n".join(str(item) for item in value) if isinstance(value, list) else value

    def clean(self, value: Any) -> Any:
        return lines(super().clean(value))

    def has_changed(self, initial: Any, data: Any) -> bool:
        return list(initial or []) != lines(data)


def lines(text: Any) -> list[str]:
    return [line.strip() for line in str(text or "").splitlines() if line.strip()]


class CalendarForm(forms.ModelForm):  # type: ignore[type-arg]
    dates = LinesField(help_text="Whole local days excluded, one YYYY-MM-DD per line (e.g. holidays).")
    crons = LinesField(
        help_text="Cron expressions, one per line, read in the calendar's time zone; a fire time one matches "
        "is excluded. E.g. <code>* * * * 6,0</code> for weekends, <code>* 2-3 * * *</code> for 02:00-03:59."
    )

    class Meta:
        model = Calendar
        fields = ("name", "description", "timezone", "dates", "crons")
        widgets = {"description": forms.Textarea(attrs={"rows": 2, "cols": 60})}


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
