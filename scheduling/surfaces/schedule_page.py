"""A schedule's own page (``/schedules/<id>/``), its delete confirmation and its backfill form.

Everything about one schedule an operator looks for, outside the admin: its timing in words and
the user's description, its state (``control_state``), the next fire times with excluded ones
marked and the recent occurrences (``overview``), its last runs with durations, a duration
sparkline and a success/failure strip (``run_history``), its history of changes, and its actions.
Each action is a CSRF-protected POST to the door that already exists (run now, pause, resume,
edit) or to the two added here (backfill through ``engine.backfills``, delete), shown only to the
users its rule allows and refused (403) to the others.

The history of changes is the schedule's audit trail (``orchestrator.audit``): every door's
changes, with who, the door, and each field before and after.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib import messages
from django.contrib.admin.models import DELETION, LogEntry
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import ProtectedError, RestrictedError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from orchestrator import audit, audit_admin, rules
from orchestrator.admin_helpers import log_change
from scheduling.engine import backfills
from scheduling.models import Backfill, Schedule
from scheduling.surfaces import control_state, describe, overview, run_history
from scheduling.surfaces.backfill_form import BackfillForm, submit

VIEW = "scheduling.view_schedule"
CHANGE = "scheduling.change_schedule"
DELETE = "scheduling.delete_schedule"
#: Upcoming fire times and recent occurrences shown.
SHOWN = 10
#: Entries of the history of changes shown (newest first).
HISTORY = 20
#: Audit actions whose entry holds every field of the row.
WHOLE_ROW = frozenset({"created", "deleted"})
#: Fire times a backfill's dry run lists on the page.
PREVIEWED = 50


def _viewer(request: HttpRequest) -> None:
    if not (request.user.has_perm(VIEW) or request.user.has_perm(CHANGE)):
        raise PermissionDenied


def _user_id(request: HttpRequest) -> int:
    if request.user.pk is None:
        raise PermissionDenied
    return int(request.user.pk)


def history(schedule: Schedule, limit: int = HISTORY) -> list[dict[str, Any]]:
    """The schedule's audit trail, newest first: every door's changes (admin, pages, API, YAML,
    imports, CLI, beat) with who, through which door, and each field before and after."""
    entries = list(audit.entries_for(schedule)[:limit])
    return [
        {
            **row,
            "at": control_state.utc_text(entry.at),
            "at_iso": control_state.iso(entry.at),
            # a creation or deletion lists every field: the admin's History shows them; here, the event
            "changes": [] if entry.action in WHOLE_ROW else row["changes"],
        }
        for entry, row in zip(entries, audit_admin.rows(entries), strict=True)
    ]


def _permissions(request: HttpRequest) -> dict[str, bool]:
    user = request.user
    return {
        "can_run_now": rules.RUN_NOW.allows(user),
        "can_pause_resume": rules.PAUSE_RESUME.allows(user),
        "can_backfill": rules.BACKFILL.allows(user),
        "can_change": user.has_perm(CHANGE),
        "can_delete": user.has_perm(DELETE),
        "is_staff": bool(user.is_staff),
    }


def _backfill_form(data: Any) -> BackfillForm:
    form = BackfillForm(data, initial={"overlap_policy": "buffer_all", "dry_run": True})
    for name in ("start", "end"):
        form.fields[name].widget.attrs["placeholder"] = "2026-12-01 00:00"
    return form


def _schedule(pk: int) -> Schedule:
    return get_object_or_404(Schedule.objects.select_related("job", "directive").prefetch_related("calendars"), pk=pk)


def page_context(request: HttpRequest, schedule: Schedule) -> dict[str, Any]:
    """What the schedule page shows (also under a backfill form with errors)."""
    now = timezone.now()
    zone = describe.zone_or_utc(schedule.timezone)
    runs = run_history.last_runs(schedule)
    cells, strip_width = run_history.strip(runs)
    counts = overview.counts(schedule)
    upcoming = [  # one way to show a time: the schedule's zone, UTC beside it where it differs
        {
            "at": item["at"],
            "local": describe.format_local(datetime.fromisoformat(item["at"]), zone),
            "utc": describe.format_utc(datetime.fromisoformat(item["at"])),
            "excluded": item["excluded"],
        }
        for item in overview.upcoming(schedule, SHOWN, now=now)
    ]
    return {
        "schedule": schedule,
        "words": describe.describe(schedule),
        "managed": describe.managed_note(schedule.source, schedule.source_path),
        "state": control_state.state(schedule),
        "pause_text": control_state.pause_text(schedule),
        "runs_left": control_state.runs_left_text(schedule),
        "failures": control_state.failures_text(schedule),
        "deadline": control_state.deadline_text(schedule),
        "calendars": sorted(calendar.name for calendar in schedule.calendars.all()),
        "same_zone": (schedule.timezone or "UTC") == "UTC",
        "upcoming": upcoming,
        "upcoming_note": control_state.upcoming_note(schedule, upcoming),
        "recent": [
            {
                **item,
                "when": describe.format_local(datetime.fromisoformat(item["scheduled_for"]), zone)
                if item["scheduled_for"]
                else "",
            }
            for item in overview.recent(schedule, SHOWN)
        ],
        "counts": counts,
        "counted_over": overview.counted_over_text(counts),
        "runs": [
            {
                "run": run,
                "scheduled": describe.format_local(run.scheduled_for, zone) if run.scheduled_for else "",
                "started": describe.format_local(run.started_at, zone) if run.started_at else "",
            }
            for run in runs
        ],
        "spark": run_history.sparkline(runs),
        "strip": cells,
        "strip_width": strip_width,
        "strip_height": run_history.STRIP_CELL * 2,
        "strip_cell": run_history.STRIP_CELL,
        "tally": run_history.tally(runs),
        "history": history(schedule),
        "backfill_form": _backfill_form(None),
        **_permissions(request),
    }


@login_required
@require_GET
def schedule_detail(request: HttpRequest, pk: int) -> HttpResponse:
    _viewer(request)
    schedule = _schedule(pk)
    return render(request, "scheduling/schedule_detail.html", page_context(request, schedule))


@login_required
@require_http_methods(["GET", "POST"])
def schedule_delete(request: HttpRequest, pk: int) -> HttpResponse:
    """GET asks to confirm; POST deletes (its occurrences go with it, its runs stay as records)."""
    if not request.user.has_perm(DELETE):
        raise PermissionDenied
    schedule = get_object_or_404(Schedule.objects.select_related("job"), pk=pk)
    if request.method == "POST":
        name = schedule.name
        try:
            with transaction.atomic():
                LogEntry.objects.log_actions(
                    _user_id(request), [schedule], DELETION, "Deleted on the schedule page.", single_object=True
                )
                schedule.delete()
        except (ProtectedError, RestrictedError) as exc:
            messages.error(request, f"“{name}” cannot be deleted: {len(exc.args[1])} row(s) still refer to it.")
            return HttpResponseRedirect(reverse("schedules:detail", args=[pk]))
        messages.success(request, f"Deleted “{name}”. Its runs stay as records.")
        return HttpResponseRedirect(reverse("schedules:list"))
    occurrences = schedule.occurrences.count()
    return render(request, "scheduling/schedule_delete.html", {"schedule": schedule, "occurrences": occurrences})


@login_required
@require_http_methods(["GET", "POST"])
def schedule_backfill(request: HttpRequest, pk: int) -> HttpResponse:
    """A backfill of the schedule's past fire times: a dry run lists them, otherwise the engine records it."""
    if not rules.BACKFILL.allows(request.user):
        raise PermissionDenied
    schedule = _schedule(pk)
    form = _backfill_form(request.POST if request.method == "POST" else None)
    by = str(request.user.get_username())
    outcome = submit(form, schedule, by=by, limit=PREVIEWED) if request.method == "POST" else None
    preview = outcome if isinstance(outcome, backfills.Preview) else None
    if isinstance(outcome, Backfill):
        log_change(_user_id(request), [schedule], f"Backfill {outcome.pk} requested: {outcome.count} fire times.")
        messages.success(
            request,
            f"Backfill {outcome.pk} of “{schedule.name}”: {outcome.count} fire time(s); "
            "the beats create them in batches.",
        )
        return HttpResponseRedirect(reverse("schedules:detail", args=[schedule.pk]))
    zone = describe.zone_or_utc(schedule.timezone)
    shown = (
        [
            {
                "local": describe.format_local(item.at, zone),
                "utc": describe.format_utc(item.at),
                "excluded": item.excluded,
            }
            for item in preview.fire_times
        ]
        if preview is not None
        else []
    )
    return render(
        request,
        "scheduling/schedule_backfill.html",
        {"schedule": schedule, "form": form, "preview": preview, "shown": shown, "previewed": PREVIEWED},
    )
