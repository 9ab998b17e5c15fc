"""Pieces the admin and the schedules page share: status badges and history entries that say what changed.

History is Django's ``LogEntry`` (what the admin's "History" page shows). Edits made in the admin,
on the schedules page, and actions such as Run now or Cancel all write to it, with the old and
new value of each changed field, so an operator can answer "who changed this, and from what".
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django import forms
from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.contrib.admin.utils import construct_change_message, unquote
from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models
from django.forms.formsets import BaseFormSet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.utils.html import format_html
from django.utils.safestring import SafeString

from orchestrator import constraints
from orchestrator.audit_admin import history_with_trail
from orchestrator.errors import ConstraintError, RowDeletedError

#: Status -> (icon, text colour, background): readable at a glance, and not by colour alone.
STATUS_STYLES: dict[str, tuple[str, str, str]] = {
    "succeeded": ("✔", "#0a5c2c", "#d3f5df"),
    "failed": ("✖", "#8a1111", "#fbdada"),
    "timed_out": ("⏱", "#7a3f00", "#fde6c8"),
    "cancelled": ("⊘", "#4a4a4a", "#e4e4e4"),
    "running": ("▶", "#0b4a8b", "#d6e8fb"),
    "queued": ("⋯", "#4b3b8f", "#e6e0fa"),
    "pending": ("…", "#4b3b8f", "#e6e0fa"),
    "dispatched": ("→", "#0b4a8b", "#d6e8fb"),
    "buffered": ("⋯", "#4b3b8f", "#e6e0fa"),
    "skipped": ("↷", "#6b5800", "#fbf1c4"),
    "missed": ("⚠", "#7a3f00", "#fde6c8"),
    "overdue": ("⏰", "#8a1111", "#fde6c8"),
}
_MAX_VALUE_CHARS = 80


def muted(text: str) -> SafeString:
    """Secondary text (a dash for nothing, "disabled"), greyed."""
    return format_html('<span class="ost-muted" style="color:#767676">{}</span>', text)


def status_badge(status: str | None, *, title: str = "") -> SafeString:
    """A coloured badge with an icon and the status word; ``never`` when there is no status."""
    if not status:
        return format_html('<span class="ost-status ost-status-none" style="color:#767676">{}</span>', "never")
    icon, colour, background = STATUS_STYLES.get(status, ("•", "#333", "#eee"))
    return format_html(
        '<span class="ost-status ost-status-{}" data-status="{}" title="{}" '
        'style="color:{};background:{};padding:1px 7px;border-radius:9px;white-space:nowrap;font-weight:600">'
        "{} {}</span>",
        status,
        status,
        title or status.replace("_", " "),
        colour,
        background,
        icon,
        status.replace("_", " "),
    )


def display_value(value: Any) -> str:
    """A short, unambiguous rendering of a field value for a history entry."""
    if value is None or value == "":
        return "(empty)"
    if isinstance(value, datetime):
        text = value.isoformat(sep=" ")
    elif isinstance(value, dict | list):
        text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    elif isinstance(value, bool):
        text = "yes" if value else "no"
    elif isinstance(value, models.Model):
        text = str(value)
    else:
        text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= _MAX_VALUE_CHARS else text[: _MAX_VALUE_CHARS - 1] + "…"


def _old_value(form: forms.BaseForm, name: str) -> Any:
    initial = form.get_initial_for_field(form.fields[name], name)
    field = form.fields[name]
    if isinstance(field, forms.ModelChoiceField) and initial not in (None, ""):
        try:
            return field.to_python(initial)
        except forms.ValidationError:
            return initial
    return initial


def changed_fields_with_values(form: forms.BaseForm) -> list[str]:
    """``["Cron: '*/5 * * * *' → '0 2 * * *'", ...]`` for each field the form changed."""
    described = []
    for name in form.changed_data:
        field = form.fields[name]
        label = str(field.label or name.replace("_", " ").capitalize())
        # a model form's instance holds the value as saved (typed), whatever the field cleaned to
        instance = getattr(form, "instance", None)
        typed = instance is not None and hasattr(instance, name)
        new = getattr(instance, name) if typed else form.cleaned_data.get(name)
        described.append(f"{label}: {display_value(_old_value(form, name))} → {display_value(new)}")
    return described


def change_message(
    form: forms.BaseForm, formsets: Iterable[BaseFormSet[Any]] = (), *, add: bool = False
) -> list[dict[str, dict[str, list[str]]]]:
    """Django's structured change message, with old and new values in place of bare field names."""
    message = construct_change_message(form, formsets, add)  # type: ignore[arg-type]
    if not add and form.changed_data:
        for part in message:
            if "changed" in part and "name" not in part["changed"]:
                part["changed"]["fields"] = changed_fields_with_values(form)
                break
    return message


class ValuesInHistoryMixin:
    """ModelAdmin mixin: the History page says what each field changed from and to (and, for an audited
    model, starts with its audit trail: ``orchestrator.audit_admin``)."""

    def history_view(self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None) -> Any:
        def render(context: dict[str, Any]) -> Any:
            return super(ValuesInHistoryMixin, self).history_view(request, object_id, context)  # type: ignore[misc]

        return history_with_trail(self.model, object_id, extra_context, render)  # type: ignore[attr-defined]

    def construct_change_message(
        self, request: HttpRequest, form: forms.Form, formsets: Iterable[BaseFormSet[Any]], add: bool = False
    ) -> list[dict[str, dict[str, list[str]]]]:
        return change_message(form, formsets, add=add)


def log_change(user_id: int, objects: Iterable[models.Model], message: str | list[dict[str, Any]]) -> None:
    """Record a change (an edit, an action) of each object in the admin history."""
    rows = list(objects)
    if len(rows) == 1:
        LogEntry.objects.log_actions(user_id, rows, CHANGE, message, single_object=True)
    elif rows:
        LogEntry.objects.log_actions(user_id, rows, CHANGE, message, single_object=False)


def log_addition(user_id: int, obj: models.Model) -> None:
    LogEntry.objects.log_actions(user_id, [obj], ADDITION, [{"added": {}}], single_object=True)


def object_or_404(queryset: models.QuerySet[Any], object_id: str) -> Any:
    """The row ``object_id`` (from an admin URL) names; 404 also when it cannot be a key of the model.

    ``get_object_or_404(Schedule, pk="²")`` raises ``ValueError`` (a 500): the id is checked with
    the key field first, as the admin's own pages do (``ModelAdmin.get_object``).
    """
    try:
        key = queryset.model._meta.pk.to_python(unquote(object_id))
    except DjangoValidationError:
        raise Http404(f"no {queryset.model._meta.verbose_name} has the id {object_id[:40]!r}") from None
    return get_object_or_404(queryset, pk=key)


def show_refusal(form: forms.BaseForm, refused: ConstraintError) -> None:
    """Show a constraint's refusal on the form that asked for the write, like its own errors.

    A field the form does not have is named in an error at the top of the form; a message the
    form already shows (its own uniqueness check, run again) is not repeated.
    """
    for name, messages in refused.errors.items():
        target = name if name in form.fields else None
        for message in messages:
            text = message if target is not None else f"{name}: {message}"
            shown = [str(error) for error in form.errors.get(target or NON_FIELD_ERRORS, [])]
            if text not in shown:
                form.add_error(target, text)


#: Where ``RefusalsMixin`` keeps a refusal between the failed save and the form shown again.
_REFUSED = "_ostinato_refused"


class RefusalsMixin:
    """ModelAdmin mixin: a save the database refuses is shown on the form, not answered with a 500.

    The admin validates, then saves; a concurrent request can take the name in between (a unique
    constraint's refusal) or delete the row (``RowDeletedError``). The save runs in
    ``constraints.enforced()``; a refusal undoes the whole change (the admin's transaction) and the
    form is shown again with the field's error, as if validation had found it. A row deleted
    meanwhile is a 404, as when the delete comes first.
    """

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        with constraints.enforced():
            super().save_model(request, obj, form, change)  # type: ignore[misc]

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        with constraints.enforced():
            super().save_related(request, form, formsets, change)  # type: ignore[misc]

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)  # type: ignore[misc,no-any-return]
        except RowDeletedError as exc:
            raise Http404(str(exc)) from exc
        except ConstraintError as exc:
            setattr(request, _REFUSED, exc)  # the form built for the second pass shows it
            return super().changeform_view(request, object_id, form_url, extra_context)  # type: ignore[misc,no-any-return]

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form_class = super().get_form(request, obj, change, **kwargs)  # type: ignore[misc]
        found: ConstraintError | None = getattr(request, _REFUSED, None)
        if found is None:
            return form_class
        refused = found

        class Refused(form_class):  # type: ignore[valid-type,misc]
            def _post_clean(self) -> None:
                super()._post_clean()
                show_refusal(self, refused)

        Refused.__name__ = form_class.__name__
        return Refused
