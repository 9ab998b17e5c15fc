"""Every route of the three apps: ``path("", include("scheduling.urls"))`` in a project's URLs (DESIGN.md).

``/schedules/`` (the schedules pages and the status page), ``/api/`` (the REST API, its schema and
docs), ``/metrics`` (Prometheus) and ``/readyz`` (readiness). Liveness, ``/healthz``, is a
middleware of the standalone project (``project.health``), answered before any URL is resolved.
"""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, include, path

from scheduling.ops.metrics import metrics_view
from scheduling.ops.views import readyz

urlpatterns: list[URLPattern | URLResolver] = [
    path("schedules/", include("scheduling.surfaces.urls")),
    path("api/", include("scheduling.surfaces.api.urls")),
    path("metrics", metrics_view, name="metrics"),
    path("readyz", readyz, name="readyz"),
]
