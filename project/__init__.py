"""Django project package; importing it makes the Celery app available as ``project.celery_app``."""

from project.celery import app as celery_app

__all__ = ["celery_app"]
