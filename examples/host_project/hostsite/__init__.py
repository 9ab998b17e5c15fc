# The Celery app is loaded whenever Django starts, so @shared_task binds to it (Celery's Django guide).
from hostsite.celery import app as celery_app

__all__ = ("celery_app",)
