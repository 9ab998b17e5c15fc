"""``/healthz``: is this web process alive? Answered before anything else runs.

``HealthzMiddleware`` sits first in ``MIDDLEWARE`` and answers ``GET|HEAD /healthz`` itself: no
database, no Redis, no session, and no ``ALLOWED_HOSTS`` check (the host header is never read),
so a container probe addressing the process by any name gets its answer. Readiness, which does
look at the database, Redis, beats and workers, is ``/readyz`` (``scheduling.ops.views``).
"""

from __future__ import annotations

import os
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse

HEALTHZ_PATH = "/healthz"


class HealthzMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info.rstrip("/") == HEALTHZ_PATH:
            if request.method not in ("GET", "HEAD"):
                return HttpResponse(status=405, headers={"Allow": "GET, HEAD"})
            return JsonResponse({"status": "ok", "pid": os.getpid()}, headers={"Cache-Control": "no-store"})
        return self.get_response(request)
