"""The schedule form's controls (limits on how it runs, exclusion calendars) and the pause form.

``ControlFields`` is mixed into ``forms.ScheduleForm``: like its other fields, each is taken as
typed and cleaned by ``schedule_input`` (one wording at every door); the calendars are chosen by
name from the defined ones. ``PauseForm`` is what the admin's "Pause…" action and the schedules
page ask before pausing: a note (required: whoever looks at a paused schedule sees why) and an
optional time to resume by itself.
"""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.utils import timezone

from orchestrator.errors import ValidationError
from scheduling.models import Calendar, Schedule
from scheduling.surfaces import calendar_input

#: The controls' group on the schedule form (after "What", "When", "Policies").
CONTROLS = ("Controls", ("pause_after_failures", "remaining_runs", "deadline_seconds", "calendars"))
#: Said wherever a pause is offered.
MISFIRE_ON_RESUME = (
    "Occurrences that fall due while the schedule is paused follow its misfire policy when it resumes "
    "(run once, run all, or recorded missed), as for any disabled schedule."
)


class _Typed(forms.CharField):
    """A whole number kept as typed (``schedule_input`` reads it); ``"5"`` typed over 5 is no change."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(required=False, strip=False, **kwargs)

    def has_changed(self, initial: Any, data: Any) -> bool:
        return str("" if initial is None else initial).strip() != str("" if data is None else data).strip()


class CalendarNamesField(forms.MultipleChoiceField):
    """Calendars chosen by name; a name that is not (or no longer) defined is refused by ``schedule_input``."""

    widget = forms.SelectMultiple(attrs={"size": 5})

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(required=False, **kwargs)

    def valid_value(self, value: Any) -> bool:
        return True  # the shared input says which names are unknown, in its own words


class ControlFields(forms.Form):
    pause_after_failures = _Typed(
        widget=forms.NumberInput(attrs={"min": 1}),
        help_text="Pause by itself after this many consecutive failed or timed-out scheduled runs (manual "
        "runs do not count; a success resets the count). Empty: never.",
    )
    remaining_runs = _Typed(
        widget=forms.NumberInput(attrs={"min": 0}),
        help_text="Occurrences still to dispatch: each one the beat dispatches takes one; at 0 there are no "
        "more. Manual and backfill runs do not take one. Empty: unlimited.",
    )
    deadline_seconds = _Typed(
        widget=forms.NumberInput(attrs={"min": 1}),
        help_text="A run not finished this many seconds after its scheduled time is overdue (shown, counted, "
        "an event). Empty: no deadline.",
    )
    calendars = CalendarNamesField(
        help_text="Exclusion calendars: a fire time one of them excludes is recorded skipped (never run, "
        "never missed).",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = cast(CalendarNamesField, self.fields["calendars"])
        field.choices = [(row.name, _label(row)) for row in Calendar.objects.order_by("name")]
        instance = getattr(self, "instance", None)
        if isinstance(instance, Schedule) and instance.pk is not None:  # names, not the rows model_to_dict gives
            self.initial["calendars"] = calendar_input.names(instance)


def _label(calendar: Calendar) -> str:
    return f"{calendar.name} ({calendar.timezone})" if calendar.timezone != "UTC" else calendar.name


class PauseForm(forms.Form):
    """Why a schedule is paused, and until when (optional), as the admin and the schedules page ask it."""

    note = forms.CharField(
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Why it is paused: shown wherever the schedule is shown, kept in its history.",
    )
    resume_at = forms.DateTimeField(
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["resume_at"].help_text = (
            f"Optional: resume by itself at this time, in {timezone.get_current_timezone_name()}; it must be in "
            "the future. Empty: until someone resumes it."
        )

    def show(self, error: ValidationError) -> None:
        """Put the service's refusal (``note``, ``resume_at``) on the fields it names."""
        for name, messages in error.errors.items():
            self.add_error(name if name in self.fields else None, messages)
