"""Pause and resume on the schedules page (``/schedules/<id>/pause/``, ``/schedules/<id>/resume/``).

Pausing asks a note and an optional resume time on a page of its own (GET), then pauses (a
CSRF-protected POST); resuming is a POST from the list. Both need the rule the admin and the API
ask (``orchestrator.rules.PAUSE_RESUME``), go through the service every door calls
(``surfaces.pausing``) and are written to the admin history with the note.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from orchestrator import rules
from orchestrator.admin_helpers import log_change
from orchestrator.errors import ValidationError
from scheduling.models import Schedule
from scheduling.surfaces import back, control_state, pausing
from scheduling.surfaces.control_form import MISFIRE_ON_RESUME, PauseForm


def _allowed(request: HttpRequest, pk: int) -> tuple[Schedule, int]:
    if not rules.PAUSE_RESUME.allows(request.user) or request.user.pk is None:
        raise PermissionDenied
    return get_object_or_404(Schedule, pk=pk), int(request.user.pk)


@login_required
@require_http_methods(["GET", "POST"])
def schedule_pause(request: HttpRequest, pk: int) -> HttpResponse:
    schedule, user_id = _allowed(request, pk)
    form = PauseForm(request.POST if request.method == "POST" else None)
    given = request.POST.get("next", "") if request.method == "POST" else request.GET.get("next", "")
    return_to = back.page_to_return_to(request, given) if given else reverse("schedules:list")
    if request.method == "POST" and form.is_valid():
        if not schedule.enabled:
            messages.info(request, f"“{schedule.name}” is not enabled ({control_state.state(schedule)}): not paused.")
            return HttpResponseRedirect(return_to)
        try:
            done = pausing.pause(
                [schedule.pk],
                note=form.cleaned_data["note"],
                by=pausing.actor(request.user),
                until=form.cleaned_data.get("resume_at"),
                now=timezone.now(),
            )
        except ValidationError as exc:
            form.show(exc)
        else:
            schedule.refresh_from_db()
            if done:
                log_change(user_id, [schedule], pausing.history_message("Paused", schedule))
                messages.success(request, f"“{schedule.name}” is {control_state.pause_text(schedule)}.")
            else:
                messages.info(request, f"“{schedule.name}” was paused or disabled meanwhile: not paused again.")
            return HttpResponseRedirect(return_to)
    return render(
        request,
        "scheduling/schedule_pause.html",
        {"schedule": schedule, "form": form, "misfire_note": MISFIRE_ON_RESUME, "return_to": return_to},
    )


@login_required
@require_POST
def schedule_resume(request: HttpRequest, pk: int) -> HttpResponse:
    schedule, user_id = _allowed(request, pk)
    if not schedule.paused:
        messages.info(request, f"“{schedule.name}” is {control_state.state(schedule)}, not paused: nothing to resume.")
    elif pausing.resume([schedule.pk], by=pausing.actor(request.user), now=timezone.now()):
        log_change(user_id, [schedule], pausing.history_message("Resumed", schedule))
        messages.success(
            request,
            f"Resumed “{schedule.name}”. Occurrences that fell due while it was paused follow its misfire policy "
            f"({schedule.misfire_policy.replace('_', ' ')}).",
        )
    return HttpResponseRedirect(back.page_to_return_to(request))
