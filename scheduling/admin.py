"""Admin for schedules and their occurrences: list, edit with a fire-time preview, run now, enable/disable.

Thin: every action calls a service (``scheduling.surfaces.actions.run_now``, ``Schedule.objects...
set_enabled``); validation is ``ScheduleForm``, which relies on ``Schedule.clean()``. Every change
and every action is written to the admin history with what changed.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.template.loader import render_to_string
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.views.decorators.http import require_POST

from orchestrator import rules
from orchestrator.admin_helpers import RefusalsMixin, ValuesInHistoryMixin, muted, object_or_404, status_badge
from orchestrator.errors import RowDeletedError
from orchestrator.models import LLMCall, Run, describe_totals
from orchestrator.timefmt import moment_text
from scheduling.models import Calendar, Schedule, ScheduledRun
from scheduling.surfaces import (
    actions,
    admin_notifications,  # noqa: F401  (registers the notification admin)
    control_state,
    describe,
    pausing,
    rows,
)
from scheduling.surfaces.admin_backfills import ScheduleBackfillMixin
from scheduling.surfaces.admin_calendars import CalendarAdmin
from scheduling.surfaces.admin_controls import ScheduleControlsMixin, StateFilter
from scheduling.surfaces.admin_overview import overview_context
from scheduling.surfaces.admin_parts import (
    LastRunStatusFilter,
    RecentOccurrencesInline,
    ScheduledRunAdmin,
    run_anchor,
    time_pair,
)
from scheduling.surfaces.api import token_admin  # noqa: F401  (registers the API token admin)
from scheduling.surfaces.forms import FIELDSETS, ScheduleForm, preview_form_data, preview_schedule


@admin.register(Schedule)
class ScheduleAdmin(
    ScheduleControlsMixin, ScheduleBackfillMixin, RefusalsMixin, ValuesInHistoryMixin, admin.ModelAdmin
):
    form = ScheduleForm
    change_form_template = "admin/scheduling/schedule/change_form.html"
    list_display = ("name", "job_key", "in_words", "next_run", "last_run", "state_column", "runs_left_column")
    list_display_links = ("name",)
    list_filter = ("job", "kind", "enabled", StateFilter, LastRunStatusFilter, "tenant")
    search_fields = ("name", "job__key")
    list_select_related = ("job",)
    list_per_page = 100
    actions = ("run_now_action", "enable_action", "disable_action", "pause_action", "resume_action", "backfill_action")
    inlines = (RecentOccurrencesInline,)
    readonly_fields = (
        "fire_time_preview",
        "next_run_display",
        "last_run_display",
        "pause_state",
        "failure_streak_display",
        "source",
        "source_path",
        "created_at",
        "updated_at",
        "token_totals",
    )
    fieldsets = (
        (None, {"fields": FIELDSETS[0][1]}),
        ("When", {"fields": (*FIELDSETS[1][1], "fire_time_preview")}),
        ("Policies", {"fields": FIELDSETS[2][1]}),
        ("Controls", {"fields": FIELDSETS[3][1]}),
        (
            "State",
            {
                "fields": (
                    "next_run_display",
                    "last_run_display",
                    "pause_state",
                    "failure_streak_display",
                    "token_totals",
                    "source",
                    "source_path",
                    "created_at",
                    "updated_at",
                )
            },
        ),
    )

    class Media:
        js = ("scheduling/schedule_form.js",)
        css = {"all": ("orchestrator/admin.css", "scheduling/schedule_form.css")}

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return rows.with_last_run(super().get_queryset(request))  # type: ignore[arg-type]

    def get_fieldsets(self, request: HttpRequest, obj: Schedule | None = None) -> Any:
        if obj is None:  # a new schedule has no state and no occurrences yet
            return [fieldset for fieldset in self.fieldsets if fieldset[0] != "State"]
        return self.fieldsets

    def get_inlines(self, request: HttpRequest, obj: Schedule | None) -> Any:
        return self.inlines if obj is not None else ()

    @admin.display(description="language-model tokens (all runs)")
    def token_totals(self, obj: Schedule) -> str:
        return describe_totals(LLMCall.objects.filter(run__occurrence__schedule=obj).totals())

    # --- list columns ------------------------------------------------------------------------------

    @admin.display(description="job", ordering="job__key")
    def job_key(self, obj: Schedule) -> str:
        return obj.job.key

    @admin.display(description="schedule")
    def in_words(self, obj: Schedule) -> str:
        return describe.describe(obj)

    @admin.display(description="next run", ordering="next_run_at")
    def next_run(self, obj: Schedule) -> SafeString:
        if not obj.enabled:
            return muted("— (paused)" if obj.paused else "— (disabled)")
        if obj.next_run_at is None:
            return muted("— (ended)")
        return time_pair(obj.next_run_at, obj.timezone)

    @admin.display(description="last run", ordering="last_run_created_at")
    def last_run(self, obj: Schedule) -> SafeString:
        run_id = getattr(obj, "last_run_id", None)
        if run_id is None:
            return status_badge(None)
        created = getattr(obj, "last_run_created_at", None)
        when = moment_text(created, obj.timezone) if created else ""
        url = reverse("admin:orchestrator_run_change", args=[run_id])
        return format_html(
            '<a href="{}" title="{}">{}</a> <small>{}</small>',
            url,
            describe.format_utc(created) if created else "",
            status_badge(getattr(obj, "last_run_status", None)),
            when,
        )

    # --- change form -------------------------------------------------------------------------------

    @admin.display(description="next 5 fire times")
    def fire_time_preview(self, obj: Schedule | None) -> SafeString:
        preview = preview_schedule(obj, now=timezone.now()) if obj is not None and obj.pk else None
        return render_to_string("scheduling/_fire_preview.html", {"preview": preview})

    @admin.display(description="next run")
    def next_run_display(self, obj: Schedule) -> SafeString:
        return self.next_run(obj)

    @admin.display(description="last run")
    def last_run_display(self, obj: Schedule) -> SafeString:
        return self.last_run(obj)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        if formset.model is ScheduledRun:
            # Occurrences are records, shown read-only: never written from here.
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
            return
        super().save_formset(request, form, formset, change)

    def save_model(self, request: HttpRequest, obj: Schedule, form: Any, change: bool) -> None:
        pausing.resume_before_enabling(obj, by=pausing.actor(request.user))
        super().save_model(request, obj, form, change)
        preview = preview_schedule(obj, now=timezone.now())
        if preview.times:
            self.message_user(
                request,
                f"“{obj.name}” next runs at {preview.times[0].local} ({preview.times[0].utc_text})"
                + ("" if obj.enabled else " once enabled")
                + ".",
                messages.INFO,
            )

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        context = dict(extra_context or {})
        context["preview_url"] = reverse("admin:scheduling_schedule_preview")
        context["can_run_now"] = rules.RUN_NOW.allows(request.user)
        context["can_enable_disable"] = rules.ENABLE_DISABLE.allows(request.user)
        context["can_pause_resume"] = rules.PAUSE_RESUME.allows(request.user)
        if object_id is not None:
            context["runs_url"] = reverse("admin:orchestrator_run_changelist") + f"?schedule={object_id}"
            context["occurrences_url"] = (
                reverse("admin:scheduling_scheduledrun_changelist") + f"?schedule__id__exact={object_id}"
            )
        return super().changeform_view(request, object_id, form_url, context)

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Schedule | None = None,
    ) -> HttpResponse:
        if obj is not None:  # a schedule another tool writes back says so (YAML sync, beat_schedule, the import)
            context["managed_note"] = describe.managed_note(obj.source, obj.source_path)
            context["pause_text"] = control_state.pause_text(obj)
            if obj.pk:  # upcoming times (excluded ones marked), recent outcomes, counts
                context["overview"] = overview_context(obj, now=timezone.now())
        return super().render_change_form(request, context, add, change, form_url, obj)

    # --- actions (through the services, the same path as the beat) --------------------------------

    def has_run_now_permission(self, request: HttpRequest, obj: Schedule | None = None) -> bool:
        return rules.RUN_NOW.allows(request.user)

    def has_enable_disable_permission(self, request: HttpRequest, obj: Schedule | None = None) -> bool:
        return rules.ENABLE_DISABLE.allows(request.user)

    @admin.action(description="Run now (selected schedules)", permissions=["run_now"])
    def run_now_action(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        self._run_now(request, list(queryset.select_related("job", "directive")))

    @admin.action(description="Enable selected schedules", permissions=["enable_disable"])
    def enable_action(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        self._set_enabled(request, queryset, True)

    @admin.action(description="Disable selected schedules", permissions=["enable_disable"])
    def disable_action(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        self._set_enabled(request, queryset, False)

    def _run_now(self, request: HttpRequest, schedules: list[Schedule]) -> None:
        started: list[tuple[Schedule, Run]] = []
        for schedule in schedules:
            try:
                run = actions.run_now(schedule)
            except RowDeletedError as exc:  # deleted meanwhile: as if the delete came first
                if len(schedules) == 1:
                    raise Http404(str(exc)) from exc
                self.message_user(request, f"“{schedule.name}” was deleted meanwhile: not run.", messages.WARNING)
                continue
            started.append((schedule, run))
            self.log_change(request, schedule, f"Ran now: run {run.id} (trigger manual).")
        if not started:
            return
        listed = format_html_join(", ", "“{}” → {}", ((s.name, run_anchor(r.id)) for s, r in started))
        self.message_user(
            request,
            format_html(
                "Started {} run{} through the orchestrator (trigger: manual): {}.",
                len(started),
                "" if len(started) == 1 else "s",
                listed,
            ),
            messages.SUCCESS,
        )
        disabled = [s.name for s, _ in started if not s.enabled]
        if disabled:
            self.message_user(
                request,
                "Ran on purpose although disabled (they stay disabled): "
                + ", ".join(f"“{name}”" for name in disabled)
                + ".",
                messages.WARNING,
            )

    def _set_enabled(self, request: HttpRequest, queryset: QuerySet[Any], enabled: bool) -> None:
        to_change = list(queryset.exclude(enabled=enabled).order_by("pk"))
        unchanged = queryset.filter(enabled=enabled).count()
        changed = pausing.set_enabled([s.pk for s in to_change], enabled, by=pausing.actor(request.user))
        word = "Enabled" if enabled else "Disabled"
        for schedule in to_change:
            self.log_change(
                request,
                schedule,
                [{"changed": {"fields": [f"Enabled: {'no → yes' if enabled else 'yes → no'}"]}}],
            )
        parts = [f"{word} {changed} schedule{'' if changed == 1 else 's'}"]
        if to_change:
            parts[0] += ": " + ", ".join(f"“{s.name}”" for s in to_change)
        if unchanged:
            parts.append(f"{unchanged} already {word.lower()}")
        self.message_user(request, "; ".join(parts) + ".", messages.SUCCESS if changed else messages.INFO)

    # --- one-schedule buttons and the live preview ---------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        own = [
            path("preview/", wrap(require_POST(self.preview_view)), name="scheduling_schedule_preview"),
            path(
                "<path:object_id>/run-now/", wrap(require_POST(self.run_now_view)), name="scheduling_schedule_run_now"
            ),
            path(
                "<path:object_id>/enable/",
                wrap(require_POST(self.enable_view)),
                name="scheduling_schedule_enable",
            ),
            path(
                "<path:object_id>/disable/",
                wrap(require_POST(self.disable_view)),
                name="scheduling_schedule_disable",
            ),
        ]
        return own + self.control_urls() + super().get_urls()

    def _allowed(self, request: HttpRequest, object_id: str, rule: rules.Rule) -> Schedule:
        """The schedule, once ``rule`` allows the user (403 otherwise, before anything is read)."""
        if not rule.allows(request.user):
            raise PermissionDenied
        found: Schedule = object_or_404(Schedule.objects.select_related("job", "directive"), object_id)
        return found

    def _back(self, schedule: Schedule) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse("admin:scheduling_schedule_change", args=[schedule.pk]))

    def run_now_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        schedule = self._allowed(request, object_id, rules.RUN_NOW)
        self._run_now(request, [schedule])
        return self._back(schedule)

    def enable_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        schedule = self._allowed(request, object_id, rules.ENABLE_DISABLE)
        self._set_enabled(request, Schedule.objects.filter(pk=schedule.pk), True)
        return self._back(schedule)

    def disable_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        schedule = self._allowed(request, object_id, rules.ENABLE_DISABLE)
        self._set_enabled(request, Schedule.objects.filter(pk=schedule.pk), False)
        return self._back(schedule)

    def preview_view(self, request: HttpRequest) -> HttpResponse:
        """The live preview: what the form as typed would fire, without saving it (JSON)."""
        if not (self.has_add_permission(request) or self.has_change_permission(request)):
            raise PermissionDenied
        preview = preview_form_data(request.POST, now=timezone.now())
        return JsonResponse(preview.as_json())


admin.site.register(ScheduledRun, ScheduledRunAdmin)
admin.site.register(Calendar, CalendarAdmin)
