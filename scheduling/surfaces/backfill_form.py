"""The backfill request as a form: what the admin's "Backfill…" page and the schedule page ask.

Parsing only; ``scheduling.engine.backfills`` validates the range and records it (its errors are
keyed by field and land on these fields).
"""

from __future__ import annotations

from django import forms


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
