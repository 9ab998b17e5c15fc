"""The admin's pieces around a schedule: its recent occurrences, the last-run filter, how times and
run links are shown, and the occurrences' own list (registered by ``scheduling.admin``)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet, Subquery
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from orchestrator import ids
from orchestrator.admin_helpers import muted, status_badge
from orchestrator.estimated_count import EstimatedCountPaginator
from orchestrator.timefmt import moment_text
from scheduling.models import ScheduledRun
from scheduling.surfaces import describe, rows
from scheduling.surfaces.admin_overview import occurrence_badge

RECENT_OCCURRENCES = 20


def run_anchor(run_id: Any, text: str | None = None) -> SafeString:
    url = reverse("admin:orchestrator_run_change", args=[run_id])
    return format_html('<a href="{}"><code>{}</code></a>', url, text or ids.short(run_id))


def time_pair(moment: Any, zone_name: str) -> SafeString:
    """The time in the schedule's zone, with UTC beside it and in the tooltip."""
    if moment is None:
        return muted("—")
    return format_html(
        '<time datetime="{}" title="{}" style="white-space:nowrap">{}</time>',
        moment.isoformat(),
        describe.format_utc(moment),
        moment_text(moment, zone_name),  # the schedule's zone, UTC beside it where it differs
    )


class LastRunStatusFilter(admin.SimpleListFilter):
    title = "status of the last run"
    parameter_name = "last_run"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return rows.LAST_RUN_CHOICES

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any] | None:
        value = self.value()
        if not value:
            return queryset
        return rows.filter_last_run_status(queryset, value)  # type: ignore[arg-type]


class RecentOccurrencesFormSet(BaseInlineFormSet):
    """Only the newest occurrences: a schedule with a million of them opens as fast as a new one."""

    def get_queryset(self) -> QuerySet[Any]:
        if not hasattr(self, "_recent"):
            everything = super().get_queryset()
            newest = everything.order_by("-created_at", "-pk").values("pk")[:RECENT_OCCURRENCES]
            self._recent = everything.filter(pk__in=Subquery(newest)).order_by("-created_at", "-pk")
        return self._recent


class RecentOccurrencesInline(admin.TabularInline):
    model = ScheduledRun
    formset = RecentOccurrencesFormSet
    verbose_name = "occurrence"
    verbose_name_plural = f"Recent occurrences (newest {RECENT_OCCURRENCES}, newest first)"
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = False
    fields = ("scheduled_for_display", "trigger", "occurrence_status", "run_link", "run_status", "duration", "reason")
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return super().get_queryset(request).select_related("run", "schedule")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("scheduling.view_schedule") or request.user.has_perm("scheduling.change_schedule")

    @admin.display(description="scheduled for")
    def scheduled_for_display(self, obj: ScheduledRun) -> SafeString:
        if obj.scheduled_for is None:
            return format_html("<em>run now</em> at {}", time_pair(obj.created_at, obj.schedule.timezone))
        return time_pair(obj.scheduled_for, obj.schedule.timezone)

    @admin.display(description="occurrence")
    def occurrence_status(self, obj: ScheduledRun) -> SafeString:
        return occurrence_badge(obj)

    @admin.display(description="run")
    def run_link(self, obj: ScheduledRun) -> SafeString:
        return run_anchor(obj.run_id) if obj.run_id else muted("—")

    @admin.display(description="run status")
    def run_status(self, obj: ScheduledRun) -> SafeString:
        return status_badge(obj.run.status) if obj.run is not None else muted("—")

    @admin.display(description="duration")
    def duration(self, obj: ScheduledRun) -> str:
        if obj.run is None or obj.run.duration_ms is None:
            return "—"
        return duration_text(obj.run.duration_ms)


def duration_text(duration_ms: int) -> str:
    if duration_ms < 1000:
        return f"{duration_ms} ms"
    seconds = duration_ms / 1000
    if seconds < 120:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes} min {rest} s"


class ScheduledRunAdmin(admin.ModelAdmin):
    list_display = ("schedule", "scheduled_for", "status_badge", "trigger", "run_link", "dispatched_at", "reason")
    search_fields = ("schedule__name",)
    list_select_related = ("schedule", "run")
    list_filter = (
        "status",
        "trigger",
        ("overdue_at", admin.EmptyFieldListFilter),
        ("created_at", admin.DateFieldListFilter),
    )
    show_full_result_count = False
    paginator = EstimatedCountPaginator  # the occurrence table grows without bound: no COUNT(*) of it

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj: ScheduledRun) -> SafeString:
        return occurrence_badge(obj)

    @admin.display(description="run")
    def run_link(self, obj: ScheduledRun) -> SafeString:
        if obj.run is None:
            return muted("—")
        return format_html("{} {}", run_anchor(obj.run_id), status_badge(obj.run.status))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ScheduledRun | None = None) -> bool:
        return False
