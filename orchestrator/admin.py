"""Admin for jobs, directives and runs (the run admin is ``orchestrator.run_admin``).

Runs are records, not settings: read-only, with everything needed to understand one afterwards
(the frozen directive, timings, worker, error, artifacts, token totals, its events from the JSONL
log). The one thing an operator does to a run is cancel it, through ``cancelling.cancel_runs``.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from orchestrator import registry
from orchestrator.admin_helpers import RefusalsMixin, ValuesInHistoryMixin
from orchestrator.audit_admin import AuditEntryAdmin
from orchestrator.forms import DirectiveForm, JobForm
from orchestrator.models import AuditEntry, Directive, Job, Run
from orchestrator.run_admin import RunAdmin

# --- jobs and directives ---------------------------------------------------------------------------


class DirectiveInline(admin.TabularInline):
    model = Directive
    form = DirectiveForm
    extra = 0
    fields = ("name", "params", "description")
    show_change_link = True


@admin.register(Job)
class JobAdmin(RefusalsMixin, ValuesInHistoryMixin, admin.ModelAdmin):
    form = JobForm
    list_display = (
        "key",
        "kind",
        "queue",
        "concurrency_limit",
        "timeout_seconds",
        "max_retries",
        "registered",
        "schedule_count",
    )
    list_filter = ("kind", "queue")
    search_fields = ("key", "description", "queue")
    inlines = (DirectiveInline,)
    fieldsets = (
        (None, {"fields": ("key", "kind", "description")}),
        (
            "Execution",
            {
                "fields": ("queue", "max_concurrency", "timeout_seconds", "max_retries"),
                "description": "Changes apply to runs created from now on: a run freezes these settings when it "
                "is created.",
            },
        ),
        ("Record", {"fields": ("created_at", "updated_at")}),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        jobs: QuerySet[Any] = super().get_queryset(request)
        annotated: QuerySet[Any] = jobs.annotate(schedules_total=Count("schedules"))
        return annotated

    def get_readonly_fields(self, request: HttpRequest, obj: Job | None = None) -> tuple[str, ...]:
        # The key is the registered name in code: set once, when a row is added for a registered job.
        # The kind follows the key (an @job key, a Celery task's name, a Task's import path).
        return ("kind", "created_at", "updated_at") if obj is None else ("key", "kind", "created_at", "updated_at")

    @admin.display(description="max concurrency", ordering="max_concurrency")
    def concurrency_limit(self, obj: Job) -> str:
        return "no limit" if obj.max_concurrency is None else str(obj.max_concurrency)

    @admin.display(description="code registered", boolean=True)
    def registered(self, obj: Job) -> bool:
        return registry.has_code(obj.key, obj.kind)

    @admin.display(description="schedules", ordering="schedules_total")
    def schedule_count(self, obj: Job) -> SafeString:
        total = getattr(obj, "schedules_total", 0)
        url = reverse("admin:scheduling_schedule_changelist") + f"?job__id__exact={obj.pk}"
        return format_html('<a href="{}">{}</a>', url, total)


@admin.register(Directive)
class DirectiveAdmin(RefusalsMixin, ValuesInHistoryMixin, admin.ModelAdmin):
    form = DirectiveForm
    list_display = ("name", "job", "params_summary", "updated_at")
    list_filter = ("job",)
    list_select_related = ("job",)
    search_fields = ("name", "description", "job__key")

    @admin.display(description="params")
    def params_summary(self, obj: Directive) -> str:
        text = json.dumps(obj.params or {}, sort_keys=True, ensure_ascii=False)
        return text if len(text) <= 100 else text[:99] + "…"


admin.site.register(Run, RunAdmin)
admin.site.register(AuditEntry, AuditEntryAdmin)
