"""Admin for jobs, directives and runs (read-only runs: they are records, not settings)."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from orchestrator.models import Directive, Job, LLMCall, Run, RunArtifact, describe_totals


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ("key", "queue", "max_concurrency", "timeout_seconds", "max_retries")
    search_fields = ("key", "description")
    readonly_fields = ("key", "created_at", "updated_at")


@admin.register(Directive)
class DirectiveAdmin(admin.ModelAdmin):
    list_display = ("name", "job", "updated_at")
    list_filter = ("job",)
    search_fields = ("name", "description")


class ArtifactInline(admin.TabularInline):
    model = RunArtifact
    extra = 0
    can_delete = False
    fields = ("name", "size_bytes", "content_type", "sha256")
    readonly_fields = fields


class LLMCallInline(admin.TabularInline):
    model = LLMCall
    extra = 0
    can_delete = False
    fields = ("model", "prompt_tokens", "completion_tokens", "created_at")
    readonly_fields = fields


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    list_display = ("id", "job", "trigger", "status", "created_at", "started_at", "finished_at", "worker")
    list_filter = ("status", "trigger", "job")
    date_hierarchy = "created_at"
    inlines = (ArtifactInline, LLMCallInline)
    readonly_fields = ("token_totals",)

    @admin.display(description="language-model tokens")
    def token_totals(self, obj: Run) -> str:
        return describe_totals(LLMCall.objects.filter(run=obj).totals())

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Run | None = None) -> bool:
        return False
