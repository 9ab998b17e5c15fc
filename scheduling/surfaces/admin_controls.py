"""The schedule admin's controls: the state column (paused by whom and why), the runs left, the failure
streak, and the "Pause…" and "Resume" actions with their buttons (``ScheduleAdmin`` mixes this in).

Thin like the rest of the admin: pausing and resuming are ``surfaces.pausing`` (the service every
door calls); this module asks the note, writes the admin history and says what happened.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.views.decorators.http import require_POST

from orchestrator import rules
from orchestrator.admin_helpers import muted, object_or_404
from orchestrator.errors import ValidationError
from scheduling.models import Schedule
from scheduling.surfaces import control_state, pausing
from scheduling.surfaces.control_form import MISFIRE_ON_RESUME, PauseForm


class StateFilter(admin.SimpleListFilter):
    """Enabled, paused (disabled with a note) or disabled: what ``control_state.state`` says."""

    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("enabled", "enabled"), ("paused", "paused"), ("disabled", "disabled (not paused)")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any] | None:
        value = self.value()
        return queryset.filter(control_state.having(value)) if value in control_state.STATES else queryset


class ScheduleControlsMixin:
    """Mixed into ``ScheduleAdmin`` (a ``ModelAdmin``): columns, read-only fields, actions and URLs."""

    # --- shown ------------------------------------------------------------------------------------

    @admin.display(description="state", ordering="enabled")
    def state_column(self, obj: Schedule) -> SafeString:
        kind = control_state.state(obj)
        if kind == "paused":
            return format_html(
                '<span class="ost-paused" title="{}">paused</span><br><small>{}</small>',
                control_state.pause_text(obj),
                control_state.pause_text(obj).removeprefix("paused "),
            )
        return format_html("{}", kind) if kind == "enabled" else muted(kind)

    @admin.display(description="runs left", ordering="remaining_runs")
    def runs_left_column(self, obj: Schedule) -> SafeString:
        if obj.remaining_runs is None:
            return muted("unlimited")
        return format_html("{}", obj.remaining_runs)

    @admin.display(description="paused")
    def pause_state(self, obj: Schedule) -> SafeString:
        text = control_state.pause_text(obj)
        return format_html("{}", text) if text else muted("not paused")

    @admin.display(description="consecutive failures")
    def failure_streak_display(self, obj: Schedule) -> str:
        return control_state.failures_text(obj)

    # --- actions ----------------------------------------------------------------------------------

    def has_pause_resume_permission(self, request: HttpRequest, obj: Schedule | None = None) -> bool:
        return rules.PAUSE_RESUME.allows(request.user)

    @admin.action(description="Pause… (with a note)", permissions=["pause_resume"])
    def pause_action(self, request: HttpRequest, queryset: QuerySet[Any]) -> HttpResponse | None:
        """An intermediate page asks the note and the resume time; its POST (``apply``) pauses."""
        schedules = list(queryset.order_by("name"))
        form = PauseForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            done = self._pause(request, schedules, form)
            if done is not None:
                return None
        return self._pause_page(request, schedules, form)

    @admin.action(description="Resume selected paused schedules", permissions=["pause_resume"])
    def resume_action(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        self._resume(request, list(queryset.order_by("name")))

    def _pause(self, request: HttpRequest, schedules: list[Schedule], form: PauseForm) -> int | None:
        """Pause the enabled ones; None (errors on the form) when the service refuses the note or time."""
        note, until = form.cleaned_data["note"], form.cleaned_data.get("resume_at")
        enabled = [s for s in schedules if s.enabled]
        try:
            paused = pausing.pause(
                [s.pk for s in enabled], note=note, by=pausing.actor(request.user), until=until, now=timezone.now()
            )
        except ValidationError as exc:
            form.show(exc)
            return None
        done = [s for s in Schedule.objects.filter(pk__in=[s.pk for s in enabled]).order_by("name") if s.paused]
        for schedule in done:
            self.log_change(request, schedule, pausing.history_message("Paused", schedule))  # type: ignore[attr-defined]
        parts = [f"Paused {paused} schedule{'' if paused == 1 else 's'}"]
        if done:
            parts[0] += ": " + ", ".join(f"“{s.name}”" for s in done)
        skipped = len(schedules) - len(done)
        if skipped:
            parts.append(f"{skipped} not enabled (already paused or disabled), left as they were")
        self.message_user(request, "; ".join(parts) + ".", messages.SUCCESS if paused else messages.INFO)  # type: ignore[attr-defined]
        return paused

    def _resume(self, request: HttpRequest, schedules: list[Schedule]) -> int:
        paused = [s for s in schedules if s.paused]
        resumed = pausing.resume([s.pk for s in paused], by=pausing.actor(request.user), now=timezone.now())
        for schedule in paused:
            self.log_change(request, schedule, pausing.history_message("Resumed", schedule))  # type: ignore[attr-defined]
        parts = [f"Resumed {resumed} schedule{'' if resumed == 1 else 's'}"]
        if paused:
            parts[0] += ": " + ", ".join(f"“{s.name}”" for s in paused)
        if len(schedules) > len(paused):
            parts.append(f"{len(schedules) - len(paused)} not paused, left as they were")
        parts.append("occurrences that fell due while paused follow each schedule's misfire policy")
        self.message_user(request, "; ".join(parts) + ".", messages.SUCCESS if resumed else messages.INFO)  # type: ignore[attr-defined]
        return resumed

    def _pause_page(self, request: HttpRequest, schedules: list[Schedule], form: PauseForm) -> TemplateResponse:
        admin_self: Any = self
        context = {
            **admin_self.admin_site.each_context(request),
            "title": "Pause schedules",
            "schedules": schedules,
            "form": form,
            "misfire_note": MISFIRE_ON_RESUME,
            "opts": admin_self.model._meta,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "action_name": "pause_action",
        }
        return TemplateResponse(request, "admin/scheduling/schedule/pause.html", context)

    # --- one-schedule buttons ---------------------------------------------------------------------

    def control_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view  # type: ignore[attr-defined]
        return [
            path("<path:object_id>/pause/", wrap(self.pause_view), name="scheduling_schedule_pause"),
            path("<path:object_id>/resume/", wrap(require_POST(self.resume_view)), name="scheduling_schedule_resume"),
        ]

    def _controlled(self, request: HttpRequest, object_id: str) -> Schedule:
        if not rules.PAUSE_RESUME.allows(request.user):
            raise PermissionDenied
        found: Schedule = object_or_404(Schedule.objects.all(), object_id)
        return found

    def _change_page(self, schedule: Schedule) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse("admin:scheduling_schedule_change", args=[schedule.pk]))

    def pause_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """GET: the note form for one schedule; POST: pause it and go back to its page."""
        schedule = self._controlled(request, object_id)
        form = PauseForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid() and self._pause(request, [schedule], form) is not None:
            return self._change_page(schedule)
        return self._pause_page(request, [schedule], form)

    def resume_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        schedule = self._controlled(request, object_id)
        self._resume(request, [schedule])
        return self._change_page(schedule)
