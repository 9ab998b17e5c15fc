"""Admin for schedules and their occurrences."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from orchestrator.models import LLMCall, describe_totals
from scheduling.models import Schedule, ScheduledRun


@admin.register(Schedule)
class ScheduleAdmin(admin.ModelAdmin):
    list_display = ("name", "job", "kind", "describe_timing", "enabled", "next_run_at", "last_run_at")
    list_filter = ("enabled", "kind", "job", "tenant")
    search_fields = ("name", "job__key")
    readonly_fields = ("next_run_at", "due_at", "last_run_at", "created_at", "updated_at", "token_totals")

    @admin.display(description="language-model tokens (all runs)")
    def token_totals(self, obj: Schedule) -> str:
        if obj._state.adding:  # the add form: no runs yet
            return "-"
        return describe_totals(LLMCall.objects.filter(run__occurrence__schedule=obj).totals())


@admin.register(ScheduledRun)
class ScheduledRunAdmin(admin.ModelAdmin):
    list_display = ("schedule", "scheduled_for", "status", "trigger", "run", "dispatched_at")
    list_filter = ("status", "trigger")
    search_fields = ("schedule__name",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ScheduledRun | None = None) -> bool:
        return False
