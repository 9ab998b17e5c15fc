"""The backfill request as a form: what the admin's "Backfill…" page and the schedule page ask.

The form parses; ``submit`` hands it to ``scheduling.engine.backfills``, which validates the range
and records it (its errors are keyed by field and land on these fields).
"""

from __future__ import annotations

from django import forms
from django.utils import timezone

from orchestrator.errors import ValidationError
from scheduling.engine import backfills
from scheduling.models import Backfill, Schedule


class BackfillForm(forms.Form):
    start = forms.DateTimeField(help_text="First moment of the range (included), in the site's time zone.")
    end = forms.DateTimeField(help_text="End of the range (excluded); not after now: a backfill fills the past.")
    overlap_policy = forms.ChoiceField(
        choices=[
            ("buffer_all", "one after another (buffer all)"),
            ("allow", "all at once (limits still apply)"),
        ],
        initial="buffer_all",
    )
    dry_run = forms.BooleanField(required=False, initial=True, help_text="List the fire times; write nothing.")


def submit(form: BackfillForm, schedule: Schedule, *, by: str, limit: int) -> backfills.Preview | Backfill | None:
    """A posted form's outcome: the dry run's preview (``limit`` fire times), the recorded backfill,
    or None when the form or the engine refused it (the errors are then on the form's fields)."""
    if not form.is_valid():
        return None
    given = form.cleaned_data
    asked = {"start": given["start"], "end": given["end"], "overlap_policy": given["overlap_policy"]}
    try:
        if given["dry_run"]:
            return backfills.dry_run(schedule, **asked, now=timezone.now(), limit=limit)
        return backfills.request(schedule, **asked, by=by, now=timezone.now())
    except ValidationError as exc:
        for field, problems in exc.errors.items():
            for problem in problems:
                form.add_error(field if field in form.fields else None, problem)
        return None
