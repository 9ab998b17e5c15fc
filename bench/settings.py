"""The standalone project's settings plus django-celery-beat, the scheduler the benchmarks measure against."""

from project.settings import *  # noqa: F403
from project.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "django_celery_beat"]
