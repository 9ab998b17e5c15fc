"""What every API view is configured with, on the views themselves: the API behaves the same inside a
host project whatever its ``REST_FRAMEWORK`` and ``SPECTACULAR_SETTINGS`` say (authentication,
permissions, JSON only, pagination, error shapes; the schema's title and hooks: ``docs``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import extend_schema
from rest_framework.authentication import BaseAuthentication, SessionAuthentication
from rest_framework.pagination import BasePagination
from rest_framework.parsers import BaseParser
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.schemas.inspectors import ViewInspector
from rest_framework.views import APIView

from orchestrator import audit
from scheduling.surfaces.api.authentication import ExpiringTokenAuthentication
from scheduling.surfaces.api.enum_names import ENUM_NAME_OVERRIDES
from scheduling.surfaces.api.errors import exception_handler
from scheduling.surfaces.api.pagination import Pagination
from scheduling.surfaces.api.parsers import JSONParser
from scheduling.surfaces.api.permissions import ModelActionPermission

F = TypeVar("F", bound=Callable[..., Any])

#: The OpenAPI document's settings (drf-spectacular's names), applied to our schema views only.
SCHEMA_SETTINGS: dict[str, Any] = {
    "TITLE": "Ostinato API",
    "DESCRIPTION": "Schedules, their occurrences and runs, and the jobs they run. Authentication is required.",
    "VERSION": "1",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "scheduling.surfaces.api.schema.add_common_responses",
    ],
    # The same in a project's SPECTACULAR_SETTINGS: drf-spectacular caches the overrides it loaded first.
    "ENUM_NAME_OVERRIDES": ENUM_NAME_OVERRIDES,
}


def documented(**kwargs: Any) -> Callable[[F], F]:
    """``extend_schema`` for a view method, built on drf-spectacular's ``AutoSchema`` whatever the project's
    ``DEFAULT_SCHEMA_CLASS`` (DRF's own, unless the project uses drf-spectacular itself): a method's
    schema is derived from that setting unless the method names its base (``f.schema``)."""

    def decorate(method: F) -> F:
        method.schema = AutoSchema  # type: ignore[attr-defined]
        decorated: F = extend_schema(**kwargs)(method)
        return decorated

    return decorate


class ApiView(APIView):
    """Mixed into every API view before DRF's classes: its own settings, not the project's defaults.

    Token first: an anonymous request gets 401 with ``WWW-Authenticate: Token``, not a bare 403.
    """

    authentication_classes: Sequence[type[BaseAuthentication]] = [ExpiringTokenAuthentication, SessionAuthentication]
    permission_classes: Sequence[Any] = [ModelActionPermission]
    renderer_classes: Sequence[type[BaseRenderer]] = [JSONRenderer]
    parser_classes: Sequence[type[BaseParser]] = [JSONParser]
    pagination_class: type[BasePagination] | None = Pagination
    schema: ViewInspector | None = AutoSchema()

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        """Changes made by the request are audited as its user's (a token's too), through the ``api`` door."""
        context = audit.current()
        if context is None:  # a host without the audit middleware
            with audit.acting_for(lambda: getattr(request, "user", None), audit.API):
                return super().dispatch(request, *args, **kwargs)
        context.door = audit.API
        return super().dispatch(request, *args, **kwargs)

    def get_exception_handler(self) -> Callable[[Exception, dict[str, Any]], Response | None]:
        return exception_handler
