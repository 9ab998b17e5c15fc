"""Where a form POST without JavaScript returns: the schedules page it came from, on this site only.

The list (with its query: page, search) or a schedule's own page; anything else (another site, the
admin, a made-up path) falls back to the list. Read from ``Referer`` or a ``next`` field.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from django.http import HttpRequest
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

_SCHEDULE_PAGE = re.compile(r"^/schedules/[0-9]{1,18}/$")


def _allowed(request: HttpRequest, url: str) -> bool:
    return bool(url) and url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )


def page_to_return_to(request: HttpRequest, given: str = "") -> str:
    """``given`` (a ``next`` value) or the ``Referer`` when it is the list or a schedule's page; else the list."""
    list_url = reverse("schedules:list")
    for candidate in (given, request.headers.get("Referer", "")):
        if len(candidate) > 2000 or "\x00" in candidate or not _allowed(request, candidate):
            continue
        parts = urlsplit(candidate)
        if parts.path == list_url:
            return list_url + (f"?{parts.query}" if parts.query else "")
        if _SCHEDULE_PAGE.match(parts.path):
            return parts.path
    return list_url
