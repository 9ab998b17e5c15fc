"""The run page's "Run again" button: a POST, permission-checked (``rules.RUN_AGAIN``), through
``rerun.run_again`` (the one path), recorded in the new run's history; then the new run's page."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.admin import ModelAdmin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from orchestrator import ids, rerun, rules
from orchestrator.admin_helpers import muted, object_or_404
from orchestrator.models import Run


def run_again_view(model_admin: ModelAdmin[Run], request: HttpRequest, object_id: str) -> HttpResponse:
    original: Run = object_or_404(Run.objects.select_related("job"), object_id)
    if not rules.RUN_AGAIN.allows(request.user):
        raise PermissionDenied
    actor = request.user.get_username()
    run = rerun.run_again(original, actor=actor, now=timezone.now())
    model_admin.log_change(request, run, f"Started by {actor} in the admin: run again of {original.pk}.")
    model_admin.message_user(
        request,
        format_html(
            "Started {} again as run {} (manual, same frozen params).", ids.short(original.pk), ids.short(run.pk)
        ),
        messages.SUCCESS,
    )
    return HttpResponseRedirect(reverse("admin:orchestrator_run_change", args=[run.pk]))


def origin(run: Run) -> SafeString:
    """A link to the run this one was started again from, with who asked; a dash otherwise."""
    original_id = rerun.rerun_of(run)
    if original_id is None:
        return muted("—")
    by = (run.directive_snapshot or {}).get(rerun.RERUN_BY) or "?"
    url = reverse("admin:orchestrator_run_change", args=[original_id])
    return format_html('run again of <a href="{}" data-rerun-of="{}">{}</a> by {}', url, original_id, original_id, by)


def context(request: HttpRequest, run: Any) -> dict[str, Any]:
    return {"can_run_again": run is not None and rules.RUN_AGAIN.allows(request.user)}
