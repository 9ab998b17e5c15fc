"""The run admin: runs are records, read-only, with everything needed to understand one afterwards
(the frozen directive, timings, worker, error, artifacts, token totals, its events from the JSONL log);
the one thing an operator does to a run is cancel it (``cancelling.cancel_runs``)."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import QuerySet
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.views.decorators.http import require_POST

from orchestrator import (
    artifact_view,
    artifacts,
    cancelling,
    events,
    ids,
    rules,
    run_again_admin,
    run_display,
    run_steps,
)
from orchestrator.admin_helpers import muted, object_or_404, status_badge
from orchestrator.errors import ArtifactNameError, QueryParameterError
from orchestrator.estimated_count import EstimatedCountPaginator
from orchestrator.models import ACTIVE_STATUSES, Run, RunArtifact, describe_totals, token_totals
from orchestrator.run_display import pretty_json, when
from orchestrator.timefmt import parse_moment

EVENTS_SHOWN = 200


# --- runs --------------------------------------------------------------------------------------------


class ScheduleFilter(admin.SimpleListFilter):
    """Runs of one schedule (``?schedule=<id>``, linked from the schedule's page)."""

    title = "schedule"
    parameter_name = "schedule"

    def _schedule_id(self) -> int | None:
        """The id asked for; anything but ASCII digits (``²`` passes ``isdigit()``, not ``int()``) is a 400."""
        value = self.value()
        if not value:
            return None
        if not (value.isascii() and value.isdigit() and len(value) <= 18):
            shown = value if len(value) <= 20 else value[:20] + "…"
            raise QueryParameterError(
                {"schedule": f"must be a schedule's id (a whole number such as 12), not {shown!r}"}
            )
        return int(value)

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        schedule_id = self._schedule_id()
        if schedule_id is None:
            return []
        from django.apps import apps

        schedule_model = apps.get_model("scheduling", "Schedule")
        name = schedule_model.objects.filter(pk=schedule_id).values_list("name", flat=True).first()
        return [(str(schedule_id), str(name or f"#{schedule_id}"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any] | None:
        schedule_id = self._schedule_id()
        if schedule_id is None:
            return queryset
        return queryset.filter(occurrence__schedule_id=schedule_id)


class RunAdmin(admin.ModelAdmin):
    change_form_template = "admin/orchestrator/run/change_form.html"
    list_display = (
        "short_id",
        "schedule_name",
        "job",
        "trigger",
        "status_badge",
        "created",
        "started",
        "duration",
        "worker",
    )
    list_filter = ("status", "job", "trigger", ("created_at", admin.DateFieldListFilter), ScheduleFilter)
    list_select_related = ("job", "occurrence__schedule")
    search_fields = ("id", "job__key", "worker", "occurrence__schedule__name", "task_id")
    # The runs table grows without bound: no date hierarchy (it scans every row for its dates) and
    # no second COUNT(*) of the unfiltered table; the date filter above needs no query.
    show_full_result_count = False
    paginator = EstimatedCountPaginator  # nor a COUNT(*) of it for the page links
    actions = ("cancel_action",)
    fieldsets = (
        (
            "Run",
            {
                "fields": (
                    "id",
                    "status_badge",
                    "job",
                    "schedule_link",
                    "trigger",
                    "origin",
                    "attempt_shown",
                    "wait_reason",
                    "worker",
                    "task_id",
                )
            },
        ),
        ("Timings (schedule's zone; UTC)", {"fields": ("created", "queued", "started", "finished", "duration")}),
        ("Directive snapshot (frozen when the run was created)", {"fields": ("snapshot",)}),
        ("Outcome", {"fields": ("error_text", "result_json", "steps_json")}),
        ("Artifacts", {"fields": ("artifact_table",)}),
        ("Language-model tokens", {"fields": ("token_table",)}),
        ("Events (from the JSONL event log)", {"fields": ("event_table",)}),
    )
    readonly_fields = (
        "id",
        "status_badge",
        "job",
        "schedule_link",
        "trigger",
        "origin",
        "attempt_shown",
        "wait_reason",
        "worker",
        "task_id",
        "created",
        "queued",
        "started",
        "finished",
        "duration",
        "snapshot",
        "error_text",
        "result_json",
        "steps_json",
        "artifact_table",
        "token_table",
        "event_table",
    )

    class Media:
        css = {"all": ("orchestrator/admin.css",)}
        # the cancel button's question (no inline handler: CSP); the page refreshing while the run is active
        js = ("orchestrator/confirm.js", "orchestrator/run_refresh.js")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Run | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Run | None = None) -> bool:
        return False  # records: pruning old runs is a maintenance job, not a click

    def has_cancel_permission(self, request: HttpRequest, obj: Run | None = None) -> bool:
        """``rules.CANCEL_RUN``, as in the API (the admin itself never edits a run)."""
        return rules.CANCEL_RUN.allows(request.user)

    # --- columns and fields ------------------------------------------------------------------------

    @admin.display(description="run", ordering="created_at")
    def short_id(self, obj: Run) -> str:
        return ids.short(obj.id)

    @admin.display(description="schedule")
    def schedule_name(self, obj: Run) -> str:
        occurrence = getattr(obj, "occurrence", None)
        return occurrence.schedule.name if occurrence is not None else "—"

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj: Run) -> SafeString:
        return status_badge(obj.status)

    @admin.display(description="created", ordering="created_at")
    def created(self, obj: Run) -> str:
        return when(obj, obj.created_at)

    @admin.display(description="queued")
    def queued(self, obj: Run) -> str:
        return when(obj, obj.queued_at)

    @admin.display(description="started", ordering="started_at")
    def started(self, obj: Run) -> str:
        return when(obj, obj.started_at)

    @admin.display(description="finished")
    def finished(self, obj: Run) -> str:
        return when(obj, obj.finished_at)

    @admin.display(description="duration")
    def duration(self, obj: Run) -> str:
        return run_display.duration_text(obj.duration_ms)

    @admin.display(description="started from")
    def origin(self, obj: Run) -> SafeString:
        return run_again_admin.origin(obj)

    @admin.display(description="attempt")
    def attempt_shown(self, obj: Run) -> str:
        return run_display.attempt_text(obj)

    @admin.display(description="schedule")
    def schedule_link(self, obj: Run) -> SafeString:
        occurrence = getattr(obj, "occurrence", None)
        if occurrence is None:
            return muted("—")
        scheduled_for = occurrence.scheduled_for
        at = f"occurrence {when(obj, scheduled_for)}" if scheduled_for else "run now (no occurrence)"
        url = reverse("admin:scheduling_schedule_change", args=[occurrence.schedule_id])
        return format_html('<a href="{}">{}</a> — {}', url, occurrence.schedule.name, at)

    @admin.display(description="directive snapshot")
    def snapshot(self, obj: Run) -> SafeString:
        return pretty_json(obj.directive_snapshot)

    @admin.display(description="error")
    def error_text(self, obj: Run) -> SafeString:
        if not obj.error:
            return muted("—")
        return format_html('<pre class="ost-error" style="margin:0;white-space:pre-wrap">{}</pre>', obj.error)

    @admin.display(description="result")
    def result_json(self, obj: Run) -> SafeString:
        return pretty_json(obj.result)

    @admin.display(description="steps (in dependency order)")
    def steps_json(self, obj: Run) -> SafeString:
        return run_steps.steps_table(obj)

    @admin.display(description="artifacts")
    def artifact_table(self, obj: Run) -> SafeString:
        rows = [
            {
                "artifact": artifact,
                "url": reverse("admin:orchestrator_run_artifact", args=[obj.pk, artifact.pk]),
                "view_url": reverse("admin:orchestrator_run_artifact_text", args=[obj.pk, artifact.pk])
                if artifact_view.is_text(artifact.name)
                else "",
            }
            for artifact in obj.artifacts.order_by("name")
        ]
        return render_to_string("admin/orchestrator/run/_artifacts.html", {"rows": rows})

    @admin.display(description="tokens by model")
    def token_table(self, obj: Run) -> SafeString:
        calls = list(obj.llm_calls.all())
        totals = token_totals(calls)
        summary = describe_totals(
            {
                "calls": len(calls),
                "prompt_tokens": sum(c.prompt_tokens for c in calls),
                "completion_tokens": sum(c.completion_tokens for c in calls),
                "total_tokens": sum(c.total_tokens for c in calls),
            }
        )
        return render_to_string(
            "admin/orchestrator/run/_tokens.html",
            {"totals": sorted(totals.items()), "summary": summary},
        )

    @admin.display(description="events")
    def event_table(self, obj: Run) -> SafeString:
        found = events.events_for_run(obj.pk, limit=EVENTS_SHOWN, since=obj.created_at)
        shown_keys = ("ts", "event", "status", "worker", "attempt", "duration_ms")
        rows = [
            {
                "ts": when(obj, parse_moment(event.get("ts"))),
                "event": event.get("event", ""),
                "status": event.get("status", ""),
                "worker": event.get("worker", ""),
                "attempt": event.get("attempt", ""),
                "duration_ms": event.get("duration_ms", ""),
                "other": {k: v for k, v in event.items() if k not in shown_keys and k not in _RUN_KEYS},
            }
            for event in found
        ]
        return render_to_string(
            "admin/orchestrator/run/_events.html", {"rows": rows, "limit": EVENTS_SHOWN, "full": len(found)}
        )

    # --- cancel ------------------------------------------------------------------------------------

    @admin.action(description="Cancel selected queued or running runs", permissions=["cancel"])
    def cancel_action(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        self._cancel(request, list(queryset.values_list("pk", flat=True)))

    def _cancel(self, request: HttpRequest, run_ids: list[Any]) -> None:
        reason = f"cancelled by {request.user.get_username()} in the admin"
        with transaction.atomic():
            cancelled = cancelling.cancel_runs(run_ids, reason=reason, now=timezone.now())
            for run in cancelled:
                self.log_change(request, run, f"Cancelled ({reason}).")
        kept = len(run_ids) - len(cancelled)
        if cancelled:
            self.message_user(
                request,
                f"Cancelled {len(cancelled)} run{'' if len(cancelled) == 1 else 's'}: "
                + ", ".join(ids.short(run.pk) for run in cancelled)
                + ". Their tasks are revoked; a running one is stopped.",
                messages.SUCCESS,
            )
        if kept:
            self.message_user(
                request,
                f"{kept} run{'' if kept == 1 else 's'} had already finished and kept {'its' if kept == 1 else 'their'} "
                "outcome.",
                messages.WARNING,
            )

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        own = [
            path("<path:object_id>/cancel/", wrap(require_POST(self.cancel_view)), name="orchestrator_run_cancel"),
            path(
                "<path:object_id>/run-again/",
                wrap(require_POST(lambda request, object_id: run_again_admin.run_again_view(self, request, object_id))),
                name="orchestrator_run_again",
            ),
            path(
                "<uuid:run_id>/artifacts/<int:artifact_id>/",
                wrap(self.artifact_view),
                name="orchestrator_run_artifact",
            ),
            path(
                "<uuid:run_id>/artifacts/<int:artifact_id>/view/",
                wrap(lambda request, run_id, artifact_id: artifact_view.text_view(self, request, run_id, artifact_id)),
                name="orchestrator_run_artifact_text",
            ),
        ]
        return own + super().get_urls()

    def cancel_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        run: Run = object_or_404(Run.objects.all(), object_id)
        if not self.has_cancel_permission(request, run):
            raise PermissionDenied
        self._cancel(request, [run.pk])
        return HttpResponseRedirect(reverse("admin:orchestrator_run_change", args=[run.pk]))

    def artifact_view(self, request: HttpRequest, run_id: Any, artifact_id: int) -> FileResponse:
        """Download one artifact (staff only, through the admin; always as an attachment, never rendered)."""
        artifact = get_object_or_404(RunArtifact.objects.select_related("run"), pk=artifact_id, run_id=run_id)
        if not self.has_view_permission(request, artifact.run):
            raise PermissionDenied
        try:
            target = artifacts.resolve(run_id, artifact.name)
        except ArtifactNameError as exc:
            raise Http404(str(exc)) from exc
        if not target.is_file():
            raise Http404(f"artifact {artifact.name!r} is recorded but its file is gone (pruned or moved)")
        response = FileResponse(
            target.open("rb"),
            as_attachment=True,
            filename=artifact.name.rsplit("/", 1)[-1],
            content_type=artifact.content_type or "application/octet-stream",
        )
        response["X-Content-Type-Options"] = "nosniff"
        return response

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        context = dict(extra_context or {})
        if object_id is not None:
            run = Run.objects.select_related("job").filter(pk=object_id).first() if _is_uuid(object_id) else None
            context["can_cancel"] = bool(
                run is not None and run.status in ACTIVE_STATUSES and self.has_cancel_permission(request, run)
            )
            context.update(run_again_admin.context(request, run))
            if run is not None:
                context["title"] = run_display.title(run)
                context["subtitle"] = None
                context["run_active"] = run.status in ACTIVE_STATUSES
        return super().changeform_view(request, object_id, form_url, context)


_RUN_KEYS = ("run_id", "job", "trigger", "schedule", "schedule_id", "scheduled_for")


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
