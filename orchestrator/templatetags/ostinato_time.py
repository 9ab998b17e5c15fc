"""``{% load ostinato_time %}``: ``{{ moment|moment:zone }}`` shows a time as ``orchestrator.timefmt`` does."""

from __future__ import annotations

from datetime import datetime

from django import template

from orchestrator.timefmt import moment_text, parse_moment

register = template.Library()


@register.filter(name="moment")
def moment(value: datetime | str | None, zone: str | None = None) -> str:
    """A datetime (or an ISO text) in ``zone`` with UTC beside it, e.g. ``2026-12-07 09:30:00 CET (08:30 UTC)``."""
    if isinstance(value, str):
        return moment_text(parse_moment(value), zone) if value else moment_text(None)
    return moment_text(value, zone)
