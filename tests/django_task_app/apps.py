from __future__ import annotations

from django.apps import AppConfig


class DjangoTaskAppConfig(AppConfig):
    name = "tests.django_task_app"
    label = "ostinato_test_django_tasks"
    verbose_name = "Test-only django.tasks Tasks"
