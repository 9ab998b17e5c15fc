"""``Content-Security-Policy`` on every response: scripts only from this site, never inline.

Django 5.2 has no CSP support of its own (it arrives in 6.0, which needs Python 3.12), and the
policy is one header, so this is a few lines rather than a dependency. The pages it covers (the
admin, /schedules/, the login pages, the API docs) load every script from a static file and
carry no inline script and no ``on*=`` handler; ``tests/db/test_csp.py`` renders them
all and fails on any. Styles may be inline (``'unsafe-inline'`` for ``style-src`` only): the
admin, Swagger UI and a few of our cells set ``style`` attributes, and a style cannot run code.

A response that already has the header (a view that sets its own) keeps it. Operators may
replace the policy with ``DJANGO_CONTENT_SECURITY_POLICY`` (a CDN in front, a report URI).
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

HEADER = "Content-Security-Policy"

DEFAULT_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",  # the admin's and Swagger UI's icons are data: URIs
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if HEADER not in response:
            response[HEADER] = settings.CONTENT_SECURITY_POLICY
        return response
