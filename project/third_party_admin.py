"""The admin pages of django-celery-beat and django-celery-results, made to answer bad input with a
form error instead of a 500 (found by ``tests/integration/test_hostile_values.py``).

The standalone project installs both apps (existing deployments' tables, Celery's result backend)
and their admin pages come with them. Three of those pages failed on input the sweep sent:

* a periodic task's form reads ``cleaned_data["task"]`` in ``clean()`` even when that field failed
  its own validation (NUL, over 200 characters): a ``KeyError``; and it takes any value of the
  registered-task list (``regtask``) as the task, NUL included, which PostgreSQL then refuses;
* a crontab's time-zone field reads its hidden initial value (``initial-timezone``) as a zone name,
  and a long one is a file name the operating system refuses (``OSError``, not caught there);
* a task result added by hand with an empty task id collides with the previous one in the unique
  index (the form skips the uniqueness check of an empty value): an ``IntegrityError``.

``harden(site)`` registers the same admin classes again with those three things fixed; it is
called by ``project.urls``. A host project using these apps is left to its own admin.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.validators import ProhibitNullCharactersValidator
from django_celery_beat.admin import CrontabScheduleAdmin, PeriodicTaskAdmin, PeriodicTaskForm
from django_celery_beat.models import CrontabSchedule, PeriodicTask
from django_celery_results.admin import GroupResultAdmin, TaskResultAdmin
from django_celery_results.models import GroupResult, TaskResult


class CheckedPeriodicTaskForm(PeriodicTaskForm):
    """``PeriodicTaskForm`` whose ``clean()`` copes with a task field that failed its own checks."""

    def clean_regtask(self) -> str:
        value = str(self.cleaned_data.get("regtask") or "")
        ProhibitNullCharactersValidator()(value)  # the list accepts any value as a task's name
        return value

    def clean(self) -> dict[str, Any]:
        if "task" not in self.cleaned_data:  # its error is already on the field
            self.cleaned_data["task"] = "-"
            cleaned: dict[str, Any] = super().clean()
            cleaned.pop("task", None)
            return cleaned
        return dict(super().clean())


class CheckedPeriodicTaskAdmin(PeriodicTaskAdmin):
    form = CheckedPeriodicTaskForm


class CheckedCrontabScheduleAdmin(CrontabScheduleAdmin):
    """The time zone is compared with what the page showed, not with a hidden copy sent back."""

    def get_form(self, request: Any, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change, **kwargs)
        form.base_fields["timezone"].show_hidden_initial = False
        return form


class RecordsOnlyMixin:
    """Results are written by Celery's result backend: shown and deletable, never added or edited."""

    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False


class TaskResultRecordsAdmin(RecordsOnlyMixin, TaskResultAdmin):
    pass


class GroupResultRecordsAdmin(RecordsOnlyMixin, GroupResultAdmin):
    pass


REPLACEMENTS: dict[type[Any], type[admin.ModelAdmin[Any]]] = {
    PeriodicTask: CheckedPeriodicTaskAdmin,
    CrontabSchedule: CheckedCrontabScheduleAdmin,
    TaskResult: TaskResultRecordsAdmin,
    GroupResult: GroupResultRecordsAdmin,
}


def harden(site: admin.AdminSite) -> None:
    """Register the fixed admin classes in place of the apps' own (where the site has them)."""
    for model, model_admin in REPLACEMENTS.items():
        if site.is_registered(model):
            site.unregister(model)
            site.register(model, model_admin)
