"""Exclusion calendars: holidays, weekends, maintenance windows that no attached schedule runs in."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.db import models

from orchestrator import constraints
from orchestrator.constraints import unique_error
from orchestrator.errors import ValidationError
from scheduling.core import calendars, timing


class Calendar(constraints.LockedOnEdit, models.Model):
    """Times no attached schedule runs at: whole local ``dates`` and ``crons`` matched in ``timezone``.

    The beat reads it through ``spec()`` (``scheduling.core.calendars``, pure); an excluded fire
    time is recorded ``skipped`` with a reason naming the calendar and never runs.
    """

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    timezone = models.CharField(
        max_length=64, default="UTC", help_text="IANA time zone the dates and crons are read in."
    )
    dates = models.JSONField(
        default=list, blank=True, help_text='Whole local days excluded, as ["YYYY-MM-DD", ...] (e.g. holidays).'
    )
    crons = models.JSONField(
        default=list,
        blank=True,
        help_text='Cron expressions; a fire time they match is excluded, e.g. ["* * * * 6,0"] for weekends '
        'or ["* 2-3 * * *"] for a 02:00-03:59 maintenance window.',
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def unique_error_message(self, model_class: type[models.Model], unique_check: Any) -> Any:
        return unique_error(model_class, unique_check)

    def clean(self) -> None:
        try:
            dates, crons = calendars.validate(
                name=self.name, timezone=self.timezone, dates=self.dates or [], crons=self.crons or []
            )
        except timing.ValidationError as exc:
            raise ValidationError(exc.errors) from exc
        self.dates = sorted(day.isoformat() for day in dates)
        self.crons = list(crons)

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Validate, then save (``LockedOnEdit``: an edit of a calendar deleted meanwhile is refused)."""
        self.clean()
        super().save(*args, **kwargs)

    def spec(self) -> calendars.CalendarSpec:
        return spec_of(self.name, self.timezone, self.dates, self.crons)


def spec_of(name: str, zone: str, dates: Any, crons: Any) -> calendars.CalendarSpec:
    """A stored calendar's values as the core's ``CalendarSpec`` (dates and crons already validated)."""
    return calendars.CalendarSpec(
        name=name,
        timezone=zone,
        dates=frozenset(date.fromisoformat(day) for day in dates or ()),
        crons=tuple(crons or ()),
    )
