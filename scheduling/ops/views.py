"""``/readyz`` (is the deployment ready to work?) and the status page ``/schedules/status/`` (staff only).

``/readyz`` answers 200 when every check in ``scheduling.ops.health`` passes and 503 otherwise. Anyone
gets the status and the names of the failing checks; authenticated staff (a session or an API
token) also get each check's detail: hosts, queues, error messages.
"""

from __future__ import annotations

from typing import Any

from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from rest_framework.exceptions import AuthenticationFailed

from scheduling.ops import health, status
from scheduling.surfaces.api.authentication import ExpiringTokenAuthentication

STATUS_REFRESH_SECONDS = 5


def _is_staff(request: HttpRequest) -> bool:
    user: Any = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return bool(user.is_staff)
    try:
        found = ExpiringTokenAuthentication().authenticate(request)  # type: ignore[arg-type]  # reads only META
    except AuthenticationFailed:
        return False
    return bool(found is not None and found[0].is_staff)


@csrf_exempt
@never_cache
def readyz(request: HttpRequest) -> HttpResponse:
    if request.method not in ("GET", "HEAD"):
        return HttpResponse(status=405, headers={"Allow": "GET, HEAD"})
    result = health.readiness()
    # Anyone (a load balancer) gets the bare status; which check failed, and why, is for staff.
    body: dict[str, Any] = {"status": "ok" if result.ok else "unavailable"}
    if _is_staff(request):
        body["failed"] = result.failed
        body["checks"] = {check.name: {"ok": check.ok, "detail": check.detail, **check.data} for check in result.checks}
    return JsonResponse(body, status=200 if result.ok else 503)


@staff_member_required(login_url="login")
@never_cache
def status_page(request: HttpRequest) -> HttpResponse:
    snap = status.snapshot()
    return render(
        request,
        "scheduling/status.html",
        {"snap": snap, "refresh_seconds": STATUS_REFRESH_SECONDS, "title": "Status"},
    )
