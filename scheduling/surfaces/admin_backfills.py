"""Backfills in the admin: the list with progress and a cancel action, and the schedules' "Backfill…" form.

Thin: the form parses, ``scheduling.engine.backfills`` validates (its errors land on the form's
fields), records, previews and cancels. Requesting needs ``scheduling.add_backfill``, cancelling
``scheduling.change_backfill`` (``orchestrator.rules``), as in the API.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from orchestrator import rules
from orchestrator.admin_helpers import object_or_404, status_badge
from orchestrator.errors import BackfillStateError
from scheduling.engine import backfills
from scheduling.models import Backfill, Schedule
from scheduling.surfaces.backfill_form import BackfillForm, submit

#: Fire times a dry run shows on the page (the count covers them all).
SHOWN = 200


def _by(request: HttpRequest) -> str:
    return str(request.user.get_username())


class ScheduleBackfillMixin(admin.ModelAdmin):
    """Mixed into ``ScheduleAdmin``: the "Backfill…" action (one schedule) and its form page."""

    def has_backfill_permission(self, request: HttpRequest, obj: Schedule | None = None) -> bool:
        return rules.BACKFILL.allows(request.user)

    @admin.action(description="Backfill… (one schedule: its past fire times)", permissions=["backfill"])
    def backfill_action(self, request: HttpRequest, queryset: QuerySet[Any]) -> HttpResponse | None:
        chosen = list(queryset.values_list("pk", flat=True)[:2])
        if len(chosen) != 1:
            self.message_user(request, "Select exactly one schedule to backfill.", messages.WARNING)
            return None
        return HttpResponseRedirect(reverse("admin:scheduling_schedule_backfill", args=[chosen[0]]))

    def get_urls(self) -> list[URLPattern]:
        own = [
            path(
                "<path:object_id>/backfill/",
                self.admin_site.admin_view(self.backfill_view),
                name="scheduling_schedule_backfill",
            )
        ]
        return own + super().get_urls()

    def backfill_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if not rules.BACKFILL.allows(request.user):
            raise PermissionDenied
        schedule: Schedule = object_or_404(Schedule.objects.select_related("job"), object_id)
        form = BackfillForm(request.POST if request.method == "POST" else None)
        outcome = submit(form, schedule, by=_by(request), limit=SHOWN) if request.method == "POST" else None
        preview = outcome if isinstance(outcome, backfills.Preview) else None
        if isinstance(outcome, Backfill):
            self.log_change(request, schedule, f"Backfill {outcome.pk} requested: {outcome.count} fire times.")
            self.message_user(
                request,
                f"Backfill {outcome.pk} of “{schedule.name}”: {outcome.count} fire time(s); "
                "the beats create them in batches.",
                messages.SUCCESS,
            )
            return HttpResponseRedirect(reverse("admin:scheduling_backfill_change", args=[outcome.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": f"Backfill “{schedule.name}”",
            "opts": Schedule._meta,
            "schedule": schedule,
            "form": form,
            "preview": preview,
            "shown": SHOWN,
        }
        return TemplateResponse(request, "admin/scheduling/schedule/backfill.html", context)


@admin.register(Backfill)
class BackfillAdmin(admin.ModelAdmin):
    list_display = ("id", "schedule", "start", "end", "overlap_policy", "status_badge", "progress_text",
                    "requested_by", "created_at", "finished_at")  # fmt: skip
    list_filter = ("status", "overlap_policy")
    search_fields = ("schedule__name", "requested_by")
    list_select_related = ("schedule",)
    actions = ("cancel_action",)
    readonly_fields = ("schedule", "start", "end", "overlap_policy", "status", "count", "created", "cursor",
                       "requested_by", "created_at", "finished_at", "progress_detail")  # fmt: skip
    fields = readonly_fields

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj: Backfill) -> SafeString:
        return status_badge(obj.status)

    @admin.display(description="created / fire times")
    def progress_text(self, obj: Backfill) -> str:
        return f"{obj.created} / {obj.count}"

    @admin.display(description="progress")
    def progress_detail(self, obj: Backfill) -> SafeString:
        progress = obj.progress()
        occurrences = ", ".join(f"{n} {status}" for status, n in sorted(progress["occurrences"].items())) or "none yet"
        runs = ", ".join(f"{n} {status}" for status, n in sorted(progress["runs"].items())) or "none yet"
        return format_html("occurrences: {}<br>runs: {}", occurrences, runs)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # requested from a schedule ("Backfill…"), the API or the CLI

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        return rules.CANCEL_BACKFILL.allows(request.user)

    @admin.action(description="Cancel selected backfills (skip what waits; what ran stays)", permissions=["cancel"])
    def cancel_action(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        done, refused = [], []
        for backfill in queryset.order_by("pk"):
            try:
                backfills.cancel(backfill, by=_by(request), now=timezone.now())
            except BackfillStateError as exc:
                refused.append(str(exc))
                continue
            done.append(backfill.pk)
            self.log_change(request, backfill, "Cancelled.")
        if done:
            self.message_user(request, f"Cancelled backfill(s) {', '.join(map(str, done))}.", messages.SUCCESS)
        for text in refused:
            self.message_user(request, text[:1].upper() + text[1:] + ".", messages.WARNING)
