"""The schedule form shared by the admin and the schedules page, and the fire-time preview.

The rules live in ``Schedule.clean()`` (through ``scheduling.timing.validate_spec``), so the admin,
the schedules page, the API and YAML sync all refuse the same things with the same words. The
form adds only what is about typing into a browser:

* dates and times are typed as wall times in the schedule's own time zone (an explicit offset,
  ``2026-12-01T09:00+01:00``, is honoured as given); a wall time that does not exist there (the
  clocks go forward) is refused, and one that happens twice (the clocks go back) means the first;
* params are a JSON object, with the line and column of a syntax error;
* the job must be registered in this deployment (a ``Job`` row whose code is gone would fail
  every run).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from django.forms.renderers import BaseRenderer
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from orchestrator import registry
from orchestrator.errors import UnknownJobError
from orchestrator.forms import JSONObjectField
from orchestrator.models import Directive, Job
from scheduling.core import timing
from scheduling.core.policies import MisfirePolicy, OverlapPolicy
from scheduling.core.timing import Kind
from scheduling.models import Schedule, ScheduleSource
from scheduling.surfaces import describe
from scheduling.surfaces.inputs import year_problem

PREVIEW_COUNT = 5
DATETIME_FIELDS = ("run_at", "start_at", "end_at")
#: The fields whose errors a fire-time preview shows (the rest do not change when it fires).
TIMING_FORM_FIELDS = ("kind", "cron", "interval_seconds", "run_at", "timezone", "start_at", "end_at")
WALL_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"
#: How the form's fields are grouped, on the schedules page and in the admin.
FIELDSETS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("What", ("name", "description", "job", "directive", "params", "tenant", "enabled")),
    (
        "When",
        ("kind", "cron", "interval_seconds", "run_at", "timezone", "start_at", "end_at", "jitter_seconds"),
    ),
    ("Policies", ("overlap_policy", "misfire_policy", "misfire_grace_seconds", "max_concurrency")),
)


def _choice_help(intro: str, choices: list[tuple[str, str]]) -> SafeString:
    items = format_html_join("", "<li><code>{}</code>: {}</li>", ((value, label) for value, label in choices))
    return format_html('{}<ul class="choice-help">{}</ul>', intro, items)


class WallTimeField(forms.DateTimeField):
    """A date and time typed as a wall time; cleans to a *naive* datetime (the form adds the zone).

    Accepts ISO 8601 (``2026-12-01T09:00``, ``2026-12-01 09:00:00``, ``2026-12-01``); a value with
    an offset (``…+01:00``, ``…Z``) cleans to an aware datetime, which the form keeps as it is.
    """

    widget = forms.DateTimeInput(attrs={"type": "datetime-local", "step": "1"}, format=WALL_TIME_FORMAT)
    default_error_messages = {
        "invalid": "is not a date and time: use YYYY-MM-DD HH:MM (in the schedule's time zone)",
    }

    def to_python(self, value: Any) -> datetime | None:
        if value in self.empty_values:
            return None
        if isinstance(value, datetime):
            return value
        text = str(value).strip()
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
        except ValueError:
            raise DjangoValidationError(self.error_messages["invalid"], code="invalid") from None
        problem = year_problem(moment.year)
        if problem:
            raise DjangoValidationError(problem, code="invalid")
        return moment

    def prepare_value(self, value: Any) -> Any:
        return value  # initial values are already wall times in the schedule's zone (see ScheduleForm)


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


class JobChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.key} (queue {obj.queue})"


class DirectiveChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.name} (job {obj.job.key})"


class ScheduleForm(forms.ModelForm):
    """Create or edit a schedule: the admin's form and the schedules page's form."""

    job = JobChoiceField(queryset=Job.objects.order_by("key"), help_text="The registered job its runs execute.")
    directive = DirectiveChoiceField(
        queryset=Directive.objects.select_related("job").order_by("name"),
        required=False,
        help_text="Optional: the directive (of the same job) whose params each run starts from.",
    )
    params = JSONObjectField(
        help_text='A JSON object merged over the directive\'s params, e.g. {"path": "var/app.log"}; empty for none.',
    )
    kind = forms.ChoiceField(
        choices=Kind.choices(),
        widget=forms.RadioSelect,
        help_text=_choice_help(
            "How the fire times are defined:",
            [
                ("cron", "a cron expression, evaluated in the time zone below"),
                ("interval", "every so many seconds of elapsed time, anchored at the start (or the Unix epoch)"),
                ("once", "a single run at one date and time; the schedule disables itself after it"),
            ],
        ),
    )
    cron = forms.CharField(
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={"spellcheck": "false", "autocomplete": "off", "placeholder": "*/5 * * * *"}),
        help_text="5 fields (minute hour day-of-month month day-of-week), 6 with seconds first, or a macro "
        "such as @daily; evaluated in the schedule's time zone.",
    )
    interval_seconds = forms.IntegerField(
        required=False,
        min_value=1,
        error_messages={"min_value": "must be a positive number of seconds, not %(value)s"},
        help_text="For interval schedules: seconds of elapsed time between runs (300 = every 5 minutes).",
    )
    timezone = forms.CharField(
        max_length=64,
        initial="UTC",
        widget=ZoneInput(attrs={"spellcheck": "false", "placeholder": "Europe/Berlin"}),
        help_text="IANA time zone name (e.g. Europe/Berlin). Cron and the dates below are read in this zone.",
    )
    run_at = WallTimeField(required=False, help_text="For one-off schedules: when it runs (in the schedule's zone).")
    start_at = WallTimeField(required=False, help_text="Optional: no runs before this (in the schedule's zone).")
    end_at = WallTimeField(required=False, help_text="Optional: no runs after this (in the schedule's zone).")
    overlap_policy = forms.ChoiceField(
        choices=OverlapPolicy.choices(),
        widget=forms.RadioSelect,
        initial=OverlapPolicy.SKIP,
        help_text="When an occurrence is due while a run of this schedule is still pending, queued or running.",
    )
    misfire_policy = forms.ChoiceField(
        choices=MisfirePolicy.choices(),
        widget=forms.RadioSelect,
        initial=MisfirePolicy.RUN_ONCE,
        help_text="For occurrences that fell due more than 30 seconds ago while no beat ran (or while disabled).",
    )
    misfire_grace_seconds = forms.IntegerField(
        min_value=0,
        initial=3600,
        help_text="Occurrences that became due (jitter included) more than this many seconds ago are recorded "
        "missed under every misfire policy; at least 1.",
    )
    max_concurrency = forms.IntegerField(
        required=False,
        min_value=1,
        error_messages={"min_value": "must be 1 or more, or empty for no limit"},
        help_text="Runs of this schedule at once across all workers; empty for no limit (the job's limit "
        "and the global limit still apply).",
    )
    jitter_seconds = forms.IntegerField(
        min_value=0,
        initial=0,
        help_text="Delay each run by a stable offset in [0, jitter) seconds, never past the next occurrence "
        "(spreads many schedules firing at the same minute). 0 for none.",
    )

    class Meta:
        model = Schedule
        fields = (
            "name",
            "description",
            "job",
            "directive",
            "params",
            "kind",
            "cron",
            "interval_seconds",
            "run_at",
            "timezone",
            "start_at",
            "end_at",
            "enabled",
            "overlap_policy",
            "misfire_policy",
            "misfire_grace_seconds",
            "max_concurrency",
            "jitter_seconds",
            "tenant",
        )
        widgets = {
            "description": forms.Textarea(attrs={"rows": 2, "cols": 60}),
        }
        help_texts = {
            "enabled": "Disabled schedules create no runs; Run now still works on purpose.",
            "tenant": "Optional label to group and filter schedules (a team, a customer).",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        known = ", ".join(registry.keys()) or "(none)"
        self.fields["job"].error_messages["invalid_choice"] = (
            f"unknown job: choose one of the registered jobs ({known})"
        )
        self.fields["directive"].error_messages["invalid_choice"] = "unknown directive: choose one from the list"
        instance: Schedule = self.instance
        if instance.pk is not None:
            zone = describe.zone_or_utc(instance.timezone)
            for name in DATETIME_FIELDS:
                value = getattr(instance, name)
                if value is not None:
                    self.initial[name] = value.astimezone(zone).replace(tzinfo=None, microsecond=0)

    def grouped_fields(self) -> list[tuple[str, list[forms.BoundField]]]:
        """The bound fields in ``FIELDSETS`` order, for templates."""
        return [(legend, [self[name] for name in names if name in self.fields]) for legend, names in FIELDSETS]

    @property
    def managed_by_sync(self) -> bool:
        """True for a schedule that YAML sync owns: an edit here is overwritten by the next sync."""
        return bool(self.instance.pk is not None and self.instance.source == ScheduleSource.YAML)

    def clean_job(self) -> Job | None:
        job: Job | None = self.cleaned_data.get("job")
        if job is not None:
            try:
                registry.get(job.key)
            except UnknownJobError as exc:
                raise DjangoValidationError(
                    f"job {job.key!r} has no code registered in this deployment; its runs would fail. "
                    f"Registered jobs: {', '.join(exc.known) or '(none)'}",
                    code="unregistered",
                ) from None
        return job

    def clean_timezone(self) -> str:
        return str(self.cleaned_data.get("timezone") or "").strip()

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        zone_name = cleaned.get("timezone") or ""
        zone: tzinfo | None = None
        if zone_name and timing.validate_timezone(zone_name) is None:
            zone = ZoneInfo(zone_name)
        for name in DATETIME_FIELDS:
            value = cleaned.get(name)
            if value is None or value.tzinfo is not None:
                continue
            if zone is None:
                cleaned[name] = value.replace(tzinfo=UTC)  # the time zone error is what needs fixing
                continue
            aware = value.replace(tzinfo=zone)  # fold=0: an ambiguous wall time means its first pass
            if aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != value:
                self.add_error(
                    name,
                    f"{value:%Y-%m-%d %H:%M:%S} does not exist in {zone_name} (the clocks go forward then); "
                    "pick a time outside the gap",
                )
                continue
            cleaned[name] = aware
        return cleaned

    def _update_errors(self, errors: DjangoValidationError) -> None:
        """Add the model's errors (``Schedule.clean``), keeping the form's own error where a field has one.

        A field the model names but this form does not show is reported at the top of the form with
        its name, instead of failing.
        """
        if not hasattr(errors, "error_dict"):
            super()._update_errors(errors)  # type: ignore[misc]
            return
        kept: dict[str, list[Any]] = {}
        for name, messages in errors.error_dict.items():
            if name != NON_FIELD_ERRORS and name in self.errors:
                continue
            if name == NON_FIELD_ERRORS or name in self.fields:
                kept.setdefault(name, []).extend(messages)
            else:
                text = [f"{name}: {message}" for error in messages for message in error.messages]
                kept.setdefault(NON_FIELD_ERRORS, []).extend(DjangoValidationError(text).error_list)
        if kept:
            super()._update_errors(DjangoValidationError(kept))  # type: ignore[misc]


# --- the fire-time preview ------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Preview:
    """What the preview shows: the schedule in words and its next fire times, or why it cannot."""

    description: str = ""
    times: list[describe.FireTime] = field(default_factory=list)
    errors: dict[str, list[str]] = field(default_factory=dict)
    note: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "description": self.description,
            "times": [
                {"local": t.local, "utc": t.utc_text, "iso": t.utc.isoformat().replace("+00:00", "Z")}
                for t in self.times
            ],
            "errors": self.errors,
            "note": self.note,
        }


def preview_spec(spec: timing.TimingSpec, *, now: datetime, enabled: bool = True) -> Preview:
    """The next ``PREVIEW_COUNT`` fire times of a valid spec after ``now``, in its zone and in UTC."""
    try:
        timing.validate_spec(spec)
    except timing.ValidationError as exc:
        return Preview(errors=exc.errors)
    times = describe.upcoming(spec, now, PREVIEW_COUNT)
    notes = []
    if not times:
        notes.append("No more fire times: the schedule has ended (or its one run is in the past).")
    elif len(times) < PREVIEW_COUNT and spec.kind != timing.ONCE:
        notes.append(f"Only {len(times)} more fire time(s) before the schedule ends.")
    if not enabled:
        notes.append("The schedule is disabled: these are the times it would run once enabled.")
    return Preview(description=describe.describe(spec), times=times, note=" ".join(notes))


def preview_schedule(schedule: Schedule, *, now: datetime) -> Preview:
    """The preview of a saved schedule (its stored fields)."""
    return preview_spec(schedule, now=now, enabled=schedule.enabled)


def preview_form_data(
    data: Mapping[str, Any],
    *,
    now: datetime,
    form_class: type[ScheduleForm] = ScheduleForm,
    instance: Schedule | None = None,
) -> Preview:
    """The preview of what a form would save, without saving: the live preview's answer.

    Runs the form's full validation (so the errors are exactly those the save would show) and
    reports the errors of the timing fields only; the name or the job being wrong does not stop
    the preview.
    """
    form = form_class(data=data, instance=instance if instance is not None else Schedule())
    form.is_valid()
    errors = {
        name: [str(message) for message in form.errors[name]] for name in TIMING_FORM_FIELDS if name in form.errors
    }
    if errors:
        return Preview(errors=errors)
    enabled = bool(form.cleaned_data.get("enabled", True)) if hasattr(form, "cleaned_data") else True
    return preview_spec(form.instance, now=now, enabled=enabled)
