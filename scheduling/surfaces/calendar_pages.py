"""Exclusion calendars on the schedules pages: ``/schedules/calendars/`` lists them, ``new/`` and
``<id>/`` create and edit one, ``<id>/delete/`` asks before deleting it.

The form is the admin's (``calendar_form.CalendarForm``), so validation is the model's
(``Calendar.clean``) as in the admin, the API and YAML, and an error names the field and the
item in the same words. Each page asks the model permission the admin and the API ask
(``scheduling.view/add/change/delete_calendar``; 403 otherwise). A change is written to the
admin history here (``LogEntry``) and to the audit trail by the model's own signals
(``orchestrator.audit``: the request's user, door ``web``).
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.admin.models import DELETION, LogEntry
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from orchestrator import constraints
from orchestrator.admin_helpers import change_message, log_addition, log_change, show_refusal
from orchestrator.errors import ConstraintError, RowDeletedError
from scheduling.models import Calendar
from scheduling.surfaces.calendar_form import CalendarForm

VIEW = "scheduling.view_calendar"
ADD = "scheduling.add_calendar"
CHANGE = "scheduling.change_calendar"
DELETE = "scheduling.delete_calendar"


def _require(request: HttpRequest, *perms: str) -> int:
    """The user's id when they hold one of ``perms``; otherwise 403 (logged in: a redirect would not help)."""
    if request.user.pk is None or not any(request.user.has_perm(perm) for perm in perms):
        raise PermissionDenied
    return int(request.user.pk)


def _calendars(search: str) -> list[Calendar]:
    rows = Calendar.objects.annotate(schedule_count=Count("schedules")).prefetch_related("schedules")
    if search:
        rows = rows.filter(Q(name__icontains=search) | Q(description__icontains=search))
    return list(rows.order_by("name"))


@login_required
@require_GET
def calendar_list(request: HttpRequest) -> HttpResponse:
    _require(request, VIEW, CHANGE)
    search = request.GET.get("q", "").strip()
    return render(
        request,
        "scheduling/calendar_list.html",
        {
            "calendars": _calendars(search),
            "search": search,
            "can_add": request.user.has_perm(ADD),
            "can_change": request.user.has_perm(CHANGE),
            "can_delete": request.user.has_perm(DELETE),
        },
    )


def _form_page(request: HttpRequest, form: CalendarForm, calendar: Calendar | None) -> HttpResponse:
    schedules = sorted(calendar.schedules.all(), key=lambda s: s.name) if calendar is not None else []
    return render(
        request,
        "scheduling/calendar_form.html",
        {
            "form": form,
            "calendar": calendar,
            "schedules": schedules,
            "can_delete": calendar is not None and request.user.has_perm(DELETE),
        },
    )


def _saved(request: HttpRequest, calendar: Calendar) -> HttpResponse:
    messages.success(request, f"Saved calendar “{calendar.name}”.")
    if "_continue" in request.POST:
        return HttpResponseRedirect(reverse("schedules:calendar_edit", args=[calendar.pk]))
    return HttpResponseRedirect(reverse("schedules:calendars"))


@login_required
@require_http_methods(["GET", "POST"])
def calendar_create(request: HttpRequest) -> HttpResponse:
    user_id = _require(request, ADD)
    form = CalendarForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            with constraints.enforced():  # the row and its history entry, or neither
                calendar = form.save()
                log_addition(user_id, calendar)
        except ConstraintError as refused:  # the name was taken meanwhile
            show_refusal(form, refused)
        else:
            return _saved(request, calendar)
    return _form_page(request, form, None)


@login_required
@require_http_methods(["GET", "POST"])
def calendar_edit(request: HttpRequest, pk: int) -> HttpResponse:
    user_id = _require(request, CHANGE)
    calendar = get_object_or_404(Calendar, pk=pk)
    form = CalendarForm(request.POST or None, instance=calendar)
    if request.method == "POST" and form.is_valid():
        message = change_message(form)
        try:
            with constraints.enforced():
                calendar = form.save()
                if form.changed_data:
                    log_change(user_id, [calendar], message)
        except ConstraintError as refused:
            show_refusal(form, refused)
        except RowDeletedError as gone:  # deleted meanwhile: as if the delete came first
            raise Http404(str(gone)) from gone
        else:
            return _saved(request, calendar)
    saved = get_object_or_404(Calendar, pk=pk) if request.method == "POST" else calendar
    return _form_page(request, form, saved)


@login_required
@require_http_methods(["GET", "POST"])
def calendar_delete(request: HttpRequest, pk: int) -> HttpResponse:
    """GET asks to confirm (naming the schedules it is attached to); POST deletes it and detaches it."""
    user_id = _require(request, DELETE)
    calendar = get_object_or_404(Calendar, pk=pk)
    if request.method == "POST":
        name = calendar.name
        with transaction.atomic():
            LogEntry.objects.log_actions(
                user_id, [calendar], DELETION, "Deleted on the calendars page.", single_object=True
            )
            calendar.delete()
        messages.success(request, f"Deleted calendar “{name}”; the schedules it was attached to no longer use it.")
        return HttpResponseRedirect(reverse("schedules:calendars"))
    context: dict[str, Any] = {"calendar": calendar, "schedules": sorted(s.name for s in calendar.schedules.all())}
    return render(request, "scheduling/calendar_delete.html", context)
