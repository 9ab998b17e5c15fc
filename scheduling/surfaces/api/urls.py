"""Routes under /api/ (``scheduling.urls``)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, JsonResponse
from django.urls import URLPattern, URLResolver, path, re_path
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import SimpleRouter

from scheduling.surfaces.api import views

router = SimpleRouter()
router.register("schedules", views.ScheduleViewSet, basename="schedule")
router.register("runs", views.RunViewSet, basename="run")
router.register("jobs", views.JobViewSet, basename="job")


@csrf_exempt  # nothing to protect, and a write to a wrong URL should read 404, not a CSRF failure
def not_found(request: HttpRequest) -> JsonResponse:
    """Anything else under /api/ (an id that is not a number, a typo) is a JSON 404, like the rest of the API."""
    return JsonResponse({"detail": "Not found."}, status=404)


urlpatterns: list[URLPattern | URLResolver] = [
    *router.urls,
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # A browser without a session is sent to the admin login, then back here. The split view
    # serves Swagger UI's start-up script as a file (``?script``), not inline: the CSP allows no inline script.
    path(
        "docs/",
        login_required(SpectacularSwaggerSplitView.as_view(url_name="api-schema"), login_url="admin:login"),
        name="api-docs",
    ),
    re_path(r"^[\s\S]*$", not_found),  # any character, newlines included
]
