"""``{% load ostinato_ids %}``: ``{{ run.id|short_id }}`` shows a run's id as ``orchestrator.ids.short`` does."""

from __future__ import annotations

from django import template

from orchestrator import ids

register = template.Library()


@register.filter(name="short_id")
def short_id(value: object) -> str:
    """The run id's last 8 hex digits (its first 8 are its creation time): ``ids.short``."""
    return ids.short(value) if value else ""
