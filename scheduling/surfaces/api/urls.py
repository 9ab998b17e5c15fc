"""Routes under /api/ (``scheduling.urls``)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, JsonResponse
from django.urls import URLPattern, URLResolver, path, re_path
from django.views.decorators.csrf import csrf_exempt

from scheduling.surfaces.api.docs import SCHEMA_PATH, DocsView, SchemaView
from scheduling.surfaces.api.routes import router


@csrf_exempt  # nothing to protect, and a write to a wrong URL should read 404, not a CSRF failure
def not_found(request: HttpRequest) -> JsonResponse:
    """Anything else under /api/ (an id that is not a number, a typo) is a JSON 404, like the rest of the API."""
    return JsonResponse({"detail": "Not found."}, status=404)


urlpatterns: list[URLPattern | URLResolver] = [
    *router.urls,
    path(SCHEMA_PATH, SchemaView.as_view(), name="api-schema"),
    # A browser without a session is sent to the admin login, then back here.
    path(
        "docs/",
        login_required(DocsView.as_view(url_name="api-schema"), login_url="admin:login"),
        name="api-docs",
    ),
    re_path(r"^[\s\S]*$", not_found),  # any character, newlines included
]
