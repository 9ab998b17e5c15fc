"""The timeline page (``/schedules/timeline/``): upcoming occurrences across schedules, in buckets.

Reads its filters from the query string (``window`` 6h/24h/72h, ``tenant``, ``job``, ``queue``,
``name``, ``page``); a value that cannot be searched for (NUL, a lone surrogate) or is too long is
ignored rather than refused, as a search box is. The work is ``surfaces.timeline``'s, bounded per
page; the page is plain HTML and CSS (no script), so 100 rows of 24 cells render at once.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from orchestrator.models import Job
from scheduling.models import Schedule
from scheduling.surfaces import timeline
from scheduling.surfaces.input_checks import unstorable

VIEW = "scheduling.view_schedule"
CHANGE = "scheduling.change_schedule"
#: Longest filter value read (longer ones are ignored).
MAX_FILTER = 200
#: Tenants and queues offered in the filters' lists.
CHOICES = 200


def _text(request: HttpRequest, name: str) -> str:
    value = request.GET.get(name, "").strip()
    if len(value) > MAX_FILTER or unstorable(value):
        return ""
    return value


def _choices() -> tuple[list[str], list[str]]:
    tenants = list(
        Schedule.objects.exclude(tenant="").order_by("tenant").values_list("tenant", flat=True).distinct()[:CHOICES]
    )
    queues = list(Job.objects.order_by("queue").values_list("queue", flat=True).distinct()[:CHOICES])
    return tenants, queues


@login_required
@require_GET
def timeline_view(request: HttpRequest) -> HttpResponse:
    if not (request.user.has_perm(VIEW) or request.user.has_perm(CHANGE)):
        raise PermissionDenied
    filters = timeline.Filters(
        tenant=_text(request, "tenant"),
        job=_text(request, "job"),
        queue=_text(request, "queue"),
        name=_text(request, "name"),
    )
    chosen = request.GET.get("window", timeline.DEFAULT_WINDOW)
    win = timeline.window(chosen if chosen in timeline.WINDOWS else timeline.DEFAULT_WINDOW, timezone.now())
    selected = timeline.selection(filters, win)
    page = Paginator(selected.select_related("job").prefetch_related("calendars"), timeline.ROWS).get_page(
        _text(request, "page") or 1
    )
    rows = timeline.rows(list(page.object_list), win)
    load = timeline.load(selected, win)
    totals = [sum(item.cells[index].count for item in rows) for index in range(win.count)]
    kept: dict[str, Any] = {"window": win.name, **{k: v for k, v in vars_of(filters).items() if v}}
    tenants, queues = _choices()
    return render(
        request,
        "scheduling/timeline.html",
        {
            "win": win,
            "windows": list(timeline.WINDOWS),
            "filters": filters,
            "page": page,
            "rows": rows,
            "load": load,
            "load_bars": list(zip(win.starts, load.counts, load.levels(), strict=True)),
            "totals": totals,
            "starts": win.starts,
            "query": urlencode(kept),
            "tenants": tenants,
            "queues": queues,
            "per_row": timeline.PER_ROW,
            "day_labels": win.bucket >= timeline.WINDOWS["72h"][1],
        },
    )


def vars_of(filters: timeline.Filters) -> dict[str, str]:
    return {"tenant": filters.tenant, "job": filters.job, "queue": filters.queue, "name": filters.name}
