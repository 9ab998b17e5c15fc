"""Who changes what through the web: the request's user, and the door (the admin, the pages, the API).

Add ``"orchestrator.audit_middleware.AuditMiddleware"`` to ``MIDDLEWARE`` after Django's
``AuthenticationMiddleware`` (the standalone project does). The user is read when an entry is
written, not when the request arrives: the REST API authenticates a token inside its view, and sets
the request's user then. The API's views set their door themselves (``scheduling.surfaces.api.base``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from django.http import HttpRequest, HttpResponse

from orchestrator import audit


class AuditMiddleware:
    """Records changes made while handling a request as the request's user's, through ``web`` or ``admin``."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with audit.acting_for(lambda: getattr(request, "user", None), audit.WEB):
            return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view: Callable[..., Any], args: Sequence[Any], kwargs: Mapping[str, Any]
    ) -> None:
        match = request.resolver_match
        context = audit.current()
        if context is not None and match is not None and "admin" in match.namespaces:
            context.door = audit.ADMIN
