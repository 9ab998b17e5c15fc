"""The schedule form shared by the admin and the schedules page (its fire-time preview: ``preview``).

Every field is taken as typed and cleaned by ``schedule_input.clean``, the same code the API and
YAML sync use, so the doors refuse the same things with the same words; the rules the values must
satisfy together are the model's (``Schedule.clean``, run by the form's ``full_clean``). The form
adds only what is about a browser: widgets (radio buttons, a time-zone list, date pickers in the
schedule's own zone), the job chosen from the registered ones with its description and params,
and where each error is shown.
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import lru_cache
from typing import Any
from zoneinfo import available_timezones

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS
from django.forms.renderers import BaseRenderer
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from orchestrator import registry
from orchestrator.errors import ValidationError
from orchestrator.models import Directive, Job
from scheduling.core.policies import MisfirePolicy, OverlapPolicy
from scheduling.core.timing import Kind
from scheduling.models import Schedule
from scheduling.surfaces import calendar_input, describe, schedule_input
from scheduling.surfaces.control_form import CONTROLS, ControlFields

# The fire-time preview lives in its own module; these names stay importable from here.
from scheduling.surfaces.preview import PREVIEW_COUNT as PREVIEW_COUNT
from scheduling.surfaces.preview import TIMING_FORM_FIELDS as TIMING_FORM_FIELDS
from scheduling.surfaces.preview import Preview as Preview
from scheduling.surfaces.preview import preview_form_data as preview_form_data
from scheduling.surfaces.preview import preview_schedule as preview_schedule
from scheduling.surfaces.preview import preview_spec as preview_spec

DATETIME_FIELDS = schedule_input.DATETIME_FIELDS
WALL_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"
#: How the form's fields are grouped, on the schedules page and in the admin.
FIELDSETS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("What", ("name", "description", "job", "directive", "params", "tenant", "enabled")),
    (
        "When",
        ("kind", "cron", "interval_seconds", "run_at", "timezone", "start_at", "end_at", "jitter_seconds"),
    ),
    ("Policies", ("overlap_policy", "misfire_policy", "misfire_grace_seconds", "max_concurrency")),
    CONTROLS,
)


def _choice_help(intro: str, choices: list[tuple[str, str]]) -> SafeString:
    items = format_html_join("", "<li><code>{}</code>: {}</li>", ((value, label) for value, label in choices))
    return format_html('{}<ul class="choice-help">{}</ul>', intro, items)


class TypedField(forms.CharField):
    """A field whose text is kept as typed: ``schedule_input`` types it, with one wording at every door."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("strip", False)
        super().__init__(**kwargs)

    def has_changed(self, initial: Any, data: Any) -> bool:
        """Whether what was typed means something else than the value shown (``"0"`` is 0, not a change)."""
        return bool(_meaning(initial) != _meaning(data))


class WallTimeField(TypedField):
    """A date and time typed as a wall time in the schedule's zone (an explicit offset is honoured)."""

    widget = forms.DateTimeInput(attrs={"type": "datetime-local", "step": "1"}, format=WALL_TIME_FORMAT)


class JSONTextField(TypedField):
    """A JSON object typed into a text area, shown indented so params read like a config file."""

    widget = forms.Textarea(attrs={"rows": 6, "cols": 60, "spellcheck": "false", "class": "json-input"})

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, str):
            return value  # as typed (a form shown again with its errors)
        return json.dumps(value if value is not None else {}, ensure_ascii=False, indent=2)


def _meaning(value: Any) -> Any:
    """A typed or shown value in one comparable form: text stripped, numbers as text, dates parsed, JSON parsed."""
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    if isinstance(value, datetime):
        return value.replace(microsecond=0).isoformat()
    text = str(value).strip()
    if text[:1] in "{[":
        try:
            return json.dumps(json.loads(text), sort_keys=True)
        except ValueError:
            return text
    try:
        return datetime.fromisoformat(text).replace(microsecond=0).isoformat()
    except ValueError:
        return text


@lru_cache(maxsize=1)
def zone_names() -> list[str]:
    return sorted(available_timezones())


class ZoneInput(forms.TextInput):
    """A text box with the IANA zone names offered as suggestions (a ``<datalist>``)."""

    def render(
        self,
        name: str,
        value: Any,
        attrs: dict[str, Any] | None = None,
        renderer: BaseRenderer | None = None,
    ) -> SafeString:
        list_id = f"{name}-zones"
        html = super().render(name, value, {**(attrs or {}), "list": list_id, "autocomplete": "off"}, renderer)
        options = format_html_join("", '<option value="{}">', ((zone,) for zone in zone_names()))
        return format_html('{}<datalist id="{}">{}</datalist>', html, list_id, options)


class JobSelect(forms.Select):
    """The registered jobs by key, each option carrying its description and params for the form's help."""

    def create_option(
        self,
        name: str,
        value: Any,
        label: int | str,
        selected: bool,
        index: int,
        subindex: int | None = None,
        attrs: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        if value:
            option["attrs"].update(job_help(str(value)))
        return option


def job_help(key: str) -> dict[str, str]:
    """``data-description`` and ``data-params`` of a job (what the form shows under the job's select)."""
    try:
        definition = registry.resolve(key, registry.task_kind(key) or registry.FUNCTION)
    except Exception:  # a row whose code is gone: nothing to describe (saving it is refused)
        return {"data-description": "", "data-params": ""}
    if definition.call_help:
        params = definition.call_help
    elif definition.params is None:
        params = "any JSON object"
    elif not definition.params:
        params = "none"
    else:
        params = "; ".join(param.summary() for param in definition.params)
    return {"data-description": definition.description, "data-params": params}


def _job_choices() -> list[tuple[str, str]]:
    """The jobs with a row, then the Celery app's tasks that have none yet (choosing one makes its row)."""
    rows = list(Job.objects.order_by("key"))
    known = {job.key for job in rows}
    tasks = [(name, f"{name} (Celery task)") for name in registry.celery_task_names() if name not in known]
    return [("", "---------"), *((job.key, f"{job.key} (queue {job.queue})") for job in rows), *tasks]


def _directive_choices() -> list[tuple[str, str]]:
    rows = Directive.objects.select_related("job").order_by("name")
    return [("", "---------")] + [(d.name, f"{d.name} (job {d.job.key})") for d in rows]


class ScheduleForm(ControlFields, forms.ModelForm):
    """Create or edit a schedule: the admin's form and the schedules page's form."""

    name = TypedField(max_length=200, widget=forms.TextInput(attrs={"autocomplete": "off"}))
    job = TypedField(
        widget=JobSelect,
        help_text="The registered job or Celery task its runs execute; its description and params appear here "
        "once chosen.",
    )
    directive = TypedField(
        widget=forms.Select,
        help_text="Optional: the directive (of the same job) whose params each run starts from.",
    )
    params = JSONTextField(
        help_text='A JSON object merged over the directive\'s params, e.g. {"path": "var/app.log"}; empty for none.',
    )
    kind = TypedField(
        widget=forms.RadioSelect(choices=Kind.choices()),
        help_text=_choice_help(
            "How the fire times are defined (left empty: the kind whose field is filled in):",
            [
                ("cron", "a cron expression, evaluated in the time zone below"),
                ("interval", "every so many seconds of elapsed time, anchored at the start (or the Unix epoch)"),
                ("once", "a single run at one date and time, in the future; the schedule disables itself after it"),
            ],
        ),
    )
    cron = TypedField(
        widget=forms.TextInput(attrs={"spellcheck": "false", "autocomplete": "off", "placeholder": "*/5 * * * *"}),
        help_text="5 fields (minute hour day-of-month month day-of-week), 6 with seconds first, or a macro "
        "such as @daily; evaluated in the schedule's time zone.",
    )
    interval_seconds = TypedField(
        widget=forms.NumberInput(attrs={"min": 1}),
        help_text="For interval schedules: seconds of elapsed time between runs (300 = every 5 minutes).",
    )
    timezone = TypedField(
        initial="UTC",
        widget=ZoneInput(attrs={"spellcheck": "false", "placeholder": "Europe/Berlin"}),
        help_text="IANA time zone name (e.g. Europe/Berlin). Cron and the dates below are read in this zone.",
    )
    run_at = WallTimeField(help_text="For one-off schedules: when it runs (in the schedule's zone).")
    start_at = WallTimeField(help_text="Optional: no runs before this (in the schedule's zone).")
    end_at = WallTimeField(help_text="Optional: no runs after this (in the schedule's zone).")
    overlap_policy = TypedField(
        widget=forms.RadioSelect(choices=OverlapPolicy.choices()),
        initial=OverlapPolicy.SKIP,
        help_text="When an occurrence is due while a run of this schedule is still pending, queued or running.",
    )
    misfire_policy = TypedField(
        widget=forms.RadioSelect(choices=MisfirePolicy.choices()),
        initial=MisfirePolicy.RUN_ONCE,
        help_text="For occurrences that fell due more than 30 seconds ago while no beat ran (or while disabled).",
    )
    misfire_grace_seconds = TypedField(
        initial=3600,
        widget=forms.NumberInput(attrs={"min": 1}),
        help_text="Occurrences that became due (jitter included) more than this many seconds ago are recorded "
        "missed under every misfire policy; at least 1.",
    )
    max_concurrency = TypedField(
        widget=forms.NumberInput(attrs={"min": 1}),
        help_text="Runs of this schedule at once across all workers; empty for no limit (the job's limit "
        "and the global limit still apply).",
    )
    jitter_seconds = TypedField(
        initial=0,
        widget=forms.NumberInput(attrs={"min": 0}),
        help_text="Delay each run by a stable offset in [0, min(jitter, gap)) seconds, where gap is the time to the "
        "next fire time: never past the next occurrence (spreads many schedules firing at the same minute). "
        "0 for none.",
    )

    class Meta:
        model = Schedule
        fields = schedule_input.FIELDS
        widgets = {
            "description": forms.Textarea(attrs={"rows": 2, "cols": 60}),
        }
        help_texts = {
            "enabled": "Disabled schedules create no runs; Run now still works on purpose.",
            "tenant": "Optional label to group and filter schedules (a team, a customer).",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["job"].widget.choices = _job_choices()
        self.fields["directive"].widget.choices = _directive_choices()
        instance: Schedule = self.instance
        if instance.pk is not None:
            self.initial["job"] = instance.job.key
            self.initial["directive"] = instance.directive.name if instance.directive is not None else ""
            zone = describe.zone_or_utc(instance.timezone)
            for name in DATETIME_FIELDS:
                value = getattr(instance, name)
                if value is not None:
                    self.initial[name] = value.astimezone(zone).replace(tzinfo=None, microsecond=0)

    def grouped_fields(self) -> list[tuple[str, list[forms.BoundField]]]:
        """The bound fields in ``FIELDSETS`` order, for templates."""
        return [(legend, [self[name] for name in names if name in self.fields]) for legend, names in FIELDSETS]

    @property
    def managed_note(self) -> str:
        """The warning for a schedule another tool writes back (YAML sync, beat_schedule, the import); or ``""``."""
        if self.instance.pk is None:
            return ""
        return describe.managed_note(self.instance.source, self.instance.source_path)

    def clean(self) -> dict[str, Any]:
        """The one validation path (``schedule_input.validate``): what was typed, then the model's rules."""
        cleaned: dict[str, Any] = super().clean() or {}
        raw = {name: cleaned[name] for name in schedule_input.FIELDS if name in cleaned}
        instance = self.instance if self.instance.pk is not None else None
        try:
            self.instance = schedule_input.validate(raw, instance=instance, now=timezone.now())
            if "calendars" in cleaned:  # what ``save_m2m`` sets, once the row is saved
                cleaned["calendars"] = calendar_input.given(self.instance)
        except ValidationError as exc:
            for name, messages in exc.errors.items():
                if name in self.fields or name == NON_FIELD_ERRORS:
                    self.add_error(name if name in self.fields else None, messages)
                else:  # a field this form does not show: said at the top, with its name
                    self.add_error(None, [f"{name}: {message}" for message in messages])
        return cleaned

    def _post_clean(self) -> None:
        """Nothing more: ``clean`` built and validated the schedule that ``save`` writes."""
