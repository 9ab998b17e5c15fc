"""The standalone project's settings, plus the ``django-tasks`` backport's database backend and the
test-only app of Tasks: for the live tests of jobs of kind ``django_task``.

The processes those tests start (beat, workers, the backport's ``db_worker``) and the ``migrate``
that creates the backend's table run with ``DJANGO_SETTINGS_MODULE=tests.settings_django_tasks``.
The standalone project itself installs neither.
"""

from __future__ import annotations

from project.settings import *  # noqa: F403
from project.settings import INSTALLED_APPS as PROJECT_APPS

INSTALLED_APPS = [*PROJECT_APPS, "django_tasks", "django_tasks.backends.database", "tests.django_task_app"]

TASKS = {"default": {"BACKEND": "django_tasks.backends.database.DatabaseBackend"}}
