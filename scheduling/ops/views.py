"""``/readyz`` (is the deployment ready to work?) and the status page ``/schedules/status/`` (staff only).

``/readyz`` answers 200 when every check in ``scheduling.ops.health`` passes and 503 otherwise. Anyone
gets the status; authenticated staff (a session or an API token) also get the names of the
failing checks and each check's detail: hosts, queues, error messages.

The checks cost about a second (a Celery ping broadcast), so anonymous callers (load balancers,
probes, anyone) are answered from ``health.READINESS``, which runs them at most once per
``HEALTH_CACHE_SECONDS`` per process: a crowd of anonymous clients cannot make the process
broadcast more often than that. Staff, who ask to diagnose, get the checks run for them (and
refresh the cache). Liveness (``/healthz``) costs nothing and is answered earlier.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from rest_framework.exceptions import APIException

from scheduling.ops import health, status
from scheduling.surfaces.api.authentication import ExpiringTokenAuthentication

STATUS_REFRESH_SECONDS = 5


def _is_staff(request: HttpRequest) -> bool:
    user: Any = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return bool(user.is_staff)
    try:
        found = ExpiringTokenAuthentication().authenticate(request)  # reads only META
    except APIException:  # a bad, expired or throttled token: the short answer, never an error
        return False
    return bool(found is not None and found[0].is_staff)


@csrf_exempt
@never_cache
def readyz(request: HttpRequest) -> HttpResponse:
    if request.method not in ("GET", "HEAD"):
        return HttpResponse(status=405, headers={"Allow": "GET, HEAD"})
    staff = _is_staff(request)
    if staff:
        result = health.READINESS.refresh()
    else:
        result, _age = health.READINESS.get(max_age_seconds=float(getattr(settings, "HEALTH_CACHE_SECONDS", 5.0)))
    # Anyone (a load balancer) gets the bare status; which check failed, and why, is for staff.
    body: dict[str, Any] = {"status": "ok" if result.ok else "unavailable"}
    if staff:
        body["failed"] = result.failed
        body["checks"] = {check.name: {"ok": check.ok, "detail": check.detail, **check.data} for check in result.checks}
    return JsonResponse(body, status=200 if result.ok else 503)


@staff_member_required  # the admin's login: every project with these apps has one
@never_cache
def status_page(request: HttpRequest) -> HttpResponse:
    snap = status.snapshot()
    return render(
        request,
        "scheduling/status.html",
        {"snap": snap, "refresh_seconds": STATUS_REFRESH_SECONDS, "title": "Status"},
    )
