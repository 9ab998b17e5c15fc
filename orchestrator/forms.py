"""Form fields shared by the admin and the schedules page (and the forms of directives)."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from orchestrator import registry
from orchestrator.models import Directive, Job


class JSONObjectField(forms.JSONField):
    """A JSON object typed into a text area: errors say where the JSON breaks; empty means ``{}``.

    Shown indented, so a directive's params read like a config file rather than one long line.
    """

    default_error_messages = {
        "invalid": "is not valid JSON: %(problem)s",
        "not_object": 'must be a JSON object, e.g. {"path": "var/app.log"}, not %(kind)s',
    }

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault(
            "widget", forms.Textarea(attrs={"rows": 6, "cols": 60, "spellcheck": "false", "class": "json-input"})
        )
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> Any:
        if self.disabled:
            return value
        if value in self.empty_values or (isinstance(value, str) and not value.strip()):
            return {}
        if not isinstance(value, str):
            return value
        try:
            return json.loads(value, cls=self.decoder)
        except json.JSONDecodeError as exc:
            problem = f"{exc.msg} at line {exc.lineno}, column {exc.colno}"
            raise ValidationError(self.error_messages["invalid"], code="invalid", params={"problem": problem}) from exc
        except (ValueError, RecursionError) as exc:  # a number past Python's digit limit; nesting past the stack
            problem = "nested too deeply" if isinstance(exc, RecursionError) else str(exc).split(";")[0]
            raise ValidationError(self.error_messages["invalid"], code="invalid", params={"problem": problem}) from None

    def validate(self, value: Any) -> None:
        super().validate(value)
        if not isinstance(value, dict):
            kind = "a list" if isinstance(value, list) else f"the {type(value).__name__} {json.dumps(value)}"
            raise ValidationError(self.error_messages["not_object"], code="not_object", params={"kind": kind})

    def prepare_value(self, value: Any) -> str:
        if isinstance(value, forms.fields.InvalidJSONInput):
            return value
        return json.dumps(value if value is not None else {}, ensure_ascii=False, indent=2, cls=self.encoder)

    def bound_data(self, data: Any, initial: Any) -> Any:
        if self.disabled:
            return initial
        if data is None:
            return None
        try:
            return json.loads(data, cls=self.decoder)
        except (ValueError, RecursionError):  # JSONDecodeError is a ValueError
            return forms.fields.InvalidJSONInput(data)

    def has_changed(self, initial: Any, data: Any) -> bool:
        try:
            parsed = self.to_python(data)
        except ValidationError:
            return True
        return bool(json.dumps(initial or {}, sort_keys=True) != json.dumps(parsed, sort_keys=True))


class DirectiveForm(forms.ModelForm):
    """A directive with its params validated as a JSON object."""

    params = JSONObjectField(help_text="A JSON object passed to the job; a schedule's params are merged over it.")

    class Meta:
        model = Directive
        fields = ("name", "job", "params", "description")


class JobForm(forms.ModelForm):
    """A job's operational settings; a new row only for a registered job that has none."""

    class Meta:
        model = Job
        fields = ("key", "description", "queue", "max_concurrency", "timeout_seconds", "max_retries")
        help_texts = {
            "max_concurrency": "Runs of this job at once across all workers and hosts; empty for no limit. "
            "A run over the limit waits in its queue; it is not dropped.",
            "timeout_seconds": "A run still running after this many seconds is stopped and marked timed_out.",
            "max_retries": "A failed run is tried again this many times, with exponential backoff (0: never).",
        }

    def clean_key(self) -> str:
        key = str(self.cleaned_data.get("key") or "")
        known = registry.keys()
        kind = registry.task_kind(key)
        if key not in known and kind is None:
            raise ValidationError(
                "is not a registered job, a task of the Celery app nor a django.tasks Task; registered jobs: %(known)s",
                code="unregistered",
                params={"known": ", ".join(known) or "(none)"},
            )
        self.instance.kind = kind or registry.FUNCTION
        return key

    def clean_timeout_seconds(self) -> int:
        value = int(self.cleaned_data.get("timeout_seconds") or 0)
        if value < 1:
            raise ValidationError("must be at least 1 second", code="min_value")
        return value

    def clean_max_concurrency(self) -> int | None:
        value: int | None = self.cleaned_data.get("max_concurrency")
        if value == 0:
            raise ValidationError("must be 1 or more, or empty for no limit", code="min_value")
        return value
