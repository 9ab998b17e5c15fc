"""The exclusion calendar's form: the admin's and the schedules pages' (``/schedules/calendars/``).

Dates and crons are typed one per line. Validation is the model's (``Calendar.clean``, the core's
``calendars.validate``), as at every door, so an error names the field and the item in the same
words as the API and YAML (``dates[2]: '2026-02-30' is not a date; use YYYY-MM-DD``).
"""

from __future__ import annotations

from typing import Any

from django import forms

from scheduling.models import Calendar


class LinesField(forms.CharField):
    """A list typed one item per line (blank lines ignored); shown the same way."""

    widget = forms.Textarea(attrs={"rows": 6, "cols": 40, "spellcheck": "false"})

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(required=False, **kwargs)

    def prepare_value(self, value: Any) -> Any:
        return "\n".join(str(item) for item in value) if isinstance(value, list) else value

    def clean(self, value: Any) -> Any:
        return lines(super().clean(value))

    def has_changed(self, initial: Any, data: Any) -> bool:
        return list(initial or []) != lines(data)


def lines(text: Any) -> list[str]:
    return [line.strip() for line in str(text or "").splitlines() if line.strip()]


class CalendarForm(forms.ModelForm):  # type: ignore[type-arg]
    dates = LinesField(help_text="Whole local days excluded, one YYYY-MM-DD per line (e.g. holidays).")
    crons = LinesField(
        help_text="Cron expressions, one per line, read in the calendar's time zone; a fire time one matches "
        "is excluded. E.g. <code>* * * * 6,0</code> for weekends, <code>* 2-3 * * *</code> for 02:00-03:59."
    )

    class Meta:
        model = Calendar
        fields = ("name", "description", "timezone", "dates", "crons")
        widgets = {"description": forms.Textarea(attrs={"rows": 2, "cols": 60})}
