"""The schedules page (``/schedules/``): list, run now, enable/disable, create and edit.

Plain Django views with a little JavaScript (``static/scheduling/schedules.js``): the list refreshes
its rows every 5 seconds from ``/schedules/rows/`` and patches only the cells that changed, so
the page keeps its scroll position, search and focus. Run now and enable/disable are CSRF-protected
POSTs that answer JSON to the script and redirect with a message without it. Every action goes
through the same services as the admin and is recorded in the admin history.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Page, Paginator
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from orchestrator import constraints, ids, rules
from orchestrator.admin_helpers import change_message, log_addition, log_change, show_refusal
from orchestrator.errors import ConstraintError, RowDeletedError
from scheduling.models import Schedule, ScheduleSource
from scheduling.surfaces import actions, back, control_state, pausing, rows
from scheduling.surfaces.forms import ScheduleForm, preview_form_data, preview_schedule

PAGE_SIZE = 50
REFRESH_SECONDS = 5

VIEW = "scheduling.view_schedule"
CHANGE = "scheduling.change_schedule"
ADD = "scheduling.add_schedule"


def _user_id(request: HttpRequest) -> int:
    """The logged-in user's id (every view here is behind ``login_required``)."""
    user_id = request.user.pk
    if user_id is None:
        raise PermissionDenied
    return int(user_id)


def _require(request: HttpRequest, *perms: str) -> None:
    """At least one of ``perms``; otherwise 403 (the user is logged in: a redirect would not help)."""
    if not any(request.user.has_perm(perm) for perm in perms):
        raise PermissionDenied


def _require_rule(request: HttpRequest, rule: rules.Rule) -> None:
    """``rule`` must allow the user (the same rule as the admin's and the API's); otherwise 403."""
    if not rule.allows(request.user):
        raise PermissionDenied


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _selection(request: HttpRequest) -> tuple[Page[Any], str]:
    search = request.GET.get("q", "").strip()
    schedules = rows.with_last_run(Schedule.objects.select_related("job")).order_by("name", "pk")
    if search:
        schedules = schedules.filter(Q(name__icontains=search) | Q(job__key__icontains=search))
    page = Paginator(schedules, PAGE_SIZE).get_page(request.GET.get("page"))
    return page, search


def _row_context(request: HttpRequest, schedule: Schedule) -> dict[str, Any]:
    return {
        "row": rows.row(schedule),
        "can_change": request.user.has_perm(CHANGE),
        "can_run_now": rules.RUN_NOW.allows(request.user),
        "can_enable_disable": rules.ENABLE_DISABLE.allows(request.user),
        "can_pause_resume": rules.PAUSE_RESUME.allows(request.user),
        "is_staff": request.user.is_staff,
    }


def _row_json(request: HttpRequest, schedule: Schedule) -> dict[str, Any]:
    context = _row_context(request, schedule)
    return {**context["row"].page_json(), "html": render_to_string("scheduling/_schedule_row.html", context, request)}


def _annotated(pk: int) -> Schedule:
    return rows.with_last_run(Schedule.objects.select_related("job")).get(pk=pk)


@login_required
@require_GET
def schedule_list(request: HttpRequest) -> HttpResponse:
    _require(request, VIEW, CHANGE)
    page, search = _selection(request)
    rows = [_row_context(request, schedule) for schedule in page.object_list]
    return render(
        request,
        "scheduling/schedule_list.html",
        {
            "page": page,
            "rows": rows,
            "search": search,
            "can_add": request.user.has_perm(ADD),
            "refresh_seconds": REFRESH_SECONDS,
        },
    )


@login_required
@require_GET
def schedule_rows(request: HttpRequest) -> JsonResponse:
    """The current page's rows (values and rendered HTML): what the auto-refresh fetches."""
    _require(request, VIEW, CHANGE)
    page, _search = _selection(request)
    return JsonResponse(
        {
            "rows": [_row_json(request, schedule) for schedule in page.object_list],
            "count": page.paginator.count,
            "page": page.number,
            "pages": page.paginator.num_pages,
            "generated_at": timezone.now().isoformat(),
        }
    )


def _answer(
    request: HttpRequest, schedule: Schedule, message: str, *, level: int = messages.SUCCESS, **extra: Any
) -> HttpResponse:
    if _wants_json(request):
        return JsonResponse(
            {
                "ok": True,
                "level": messages.DEFAULT_TAGS.get(level, "info"),
                "message": message,
                "row": _row_json(request, _annotated(schedule.pk)),
                **extra,
            }
        )
    messages.add_message(request, level, message)
    return HttpResponseRedirect(_back_to_list(request))


def _back_to_list(request: HttpRequest) -> str:
    """Where a form POST without JavaScript returns: the list or the schedule's page it came from."""
    return back.page_to_return_to(request)


@login_required
@require_POST
def schedule_run_now(request: HttpRequest, pk: int) -> HttpResponse:
    _require_rule(request, rules.RUN_NOW)
    schedule = get_object_or_404(Schedule.objects.select_related("job", "directive"), pk=pk)
    try:
        run = actions.run_now(schedule)
    except RowDeletedError as exc:  # deleted meanwhile: as if the delete came first
        raise Http404(str(exc)) from exc
    log_change(_user_id(request), [schedule], f"Ran now: run {run.id} (trigger manual).")
    message = f"Started run {ids.short(run.id)} of “{schedule.name}” (trigger: manual)."
    if not schedule.enabled:
        message += " The schedule is disabled: it ran because you asked, and stays disabled."
    extra: dict[str, Any] = {"run_id": str(run.id)}
    if request.user.is_staff:
        extra["run_url"] = reverse("admin:orchestrator_run_change", args=[run.pk])
    return _answer(
        request, schedule, message, level=messages.SUCCESS if schedule.enabled else messages.WARNING, **extra
    )


def _set_enabled(request: HttpRequest, pk: int, enabled: bool) -> HttpResponse:
    _require_rule(request, rules.ENABLE_DISABLE)
    schedule = get_object_or_404(Schedule, pk=pk)
    changed = pausing.set_enabled([pk], enabled, by=pausing.actor(request.user))
    word = "Enabled" if enabled else "Disabled"
    if changed:
        log_change(
            _user_id(request),
            [schedule],
            [{"changed": {"fields": [f"Enabled: {'no → yes' if enabled else 'yes → no'}"]}}],
        )
        return _answer(request, schedule, f"{word} “{schedule.name}”.", enabled=enabled)
    return _answer(
        request, schedule, f"“{schedule.name}” was already {word.lower()}.", level=messages.INFO, enabled=enabled
    )


@login_required
@require_POST
def schedule_enable(request: HttpRequest, pk: int) -> HttpResponse:
    return _set_enabled(request, pk, True)


@login_required
@require_POST
def schedule_disable(request: HttpRequest, pk: int) -> HttpResponse:
    return _set_enabled(request, pk, False)


def _form_page(request: HttpRequest, form: ScheduleForm, schedule: Schedule | None) -> HttpResponse:
    preview = preview_schedule(schedule, now=timezone.now()) if schedule is not None else None
    return render(
        request,
        "scheduling/schedule_form.html",
        {
            "form": form,
            "schedule": schedule,
            "preview": preview,
            "preview_url": reverse("schedules:preview"),
            "pause_text": control_state.pause_text(schedule) if schedule is not None else "",
            "failures": control_state.failures_text(schedule) if schedule is not None else "",
        },
    )


def _saved(request: HttpRequest, schedule: Schedule) -> HttpResponse:
    preview = preview_schedule(schedule, now=timezone.now())
    text = f"Saved “{schedule.name}”."
    if preview.times:
        text += f" Next run: {preview.times[0].local} ({preview.times[0].utc_text})"
        text += "." if schedule.enabled else " once enabled."
    messages.success(request, text)
    if "_continue" in request.POST:
        return HttpResponseRedirect(reverse("schedules:edit", args=[schedule.pk]))
    return HttpResponseRedirect(reverse("schedules:list"))


@login_required
@require_http_methods(["GET", "POST"])
def schedule_create(request: HttpRequest) -> HttpResponse:
    _require(request, ADD)
    form = ScheduleForm(request.POST or None, instance=Schedule(source=ScheduleSource.ADMIN))
    if request.method == "POST" and form.is_valid():
        try:
            with constraints.enforced():  # the row and its history entry, or neither
                schedule = form.save()
                log_addition(_user_id(request), schedule)
        except ConstraintError as refused:  # e.g. the name was taken meanwhile
            show_refusal(form, refused)
        else:
            return _saved(request, schedule)
    return _form_page(request, form, None)


@login_required
@require_http_methods(["GET", "POST"])
def schedule_edit(request: HttpRequest, pk: int) -> HttpResponse:
    _require(request, CHANGE)
    schedule = get_object_or_404(Schedule.objects.select_related("job", "directive"), pk=pk)
    form = ScheduleForm(request.POST or None, instance=schedule)
    if request.method == "POST" and form.is_valid():
        message = change_message(form)
        try:
            with constraints.enforced():  # the change and its history entry, or neither
                pausing.resume_before_enabling(form.instance, by=pausing.actor(request.user))
                schedule = form.save()
                if form.changed_data:
                    log_change(_user_id(request), [schedule], message)
        except RowDeletedError as exc:  # deleted meanwhile: as if the delete came first
            raise Http404(str(exc)) from exc
        except ConstraintError as refused:
            show_refusal(form, refused)
        else:
            return _saved(request, schedule)
    saved = get_object_or_404(Schedule, pk=pk) if request.method == "POST" else schedule
    return _form_page(request, form, saved)


@login_required
@require_POST
def schedule_preview(request: HttpRequest) -> JsonResponse:
    """The live preview of the form as typed (not saved)."""
    _require(request, ADD, CHANGE)
    return JsonResponse(preview_form_data(request.POST, now=timezone.now()).as_json())
