"""The OpenAPI document and Swagger UI of our API only, with our settings, wherever the API is mounted.

The document covers the API's own routes (a host project's other DRF views are not ours to
describe, and may not even use drf-spectacular's schema class), under the path the API answers at.
"""

from __future__ import annotations

from typing import Any

from django.urls import include, path
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.settings import patched_settings
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from scheduling.surfaces.api.base import SCHEMA_SETTINGS, ApiView, documented
from scheduling.surfaces.api.routes import router

SCHEMA_PATH = "schema/"


class SchemaView(SpectacularAPIView):
    authentication_classes = ApiView.authentication_classes
    permission_classes = [IsAuthenticated]
    custom_settings = SCHEMA_SETTINGS
    schema = AutoSchema()

    @documented(exclude=True)
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        mounted_at = request.path_info.removesuffix(SCHEMA_PATH).lstrip("/")  # e.g. "api/" or "ops/api/"
        self.patterns = [path(mounted_at, include(router.urls))]
        response: Response = super().get(request, *args, **kwargs)  # type: ignore[no-untyped-call]
        return response


class DocsView(SpectacularSwaggerSplitView):
    """Swagger UI over ``SchemaView``; its start-up script is a file (``?script``): the CSP allows no inline one."""

    authentication_classes = ApiView.authentication_classes
    permission_classes = [IsAuthenticated]
    title = SCHEMA_SETTINGS["TITLE"]
    schema = AutoSchema()

    @documented(exclude=True)
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        with patched_settings(SCHEMA_SETTINGS):
            response: Response = super().get(request, *args, **kwargs)  # type: ignore[no-untyped-call]
        return response
