"""The Celery app, ``app``: ``celery -A project worker|beat|inspect ...``.

``celery -A project beat`` uses ``scheduling.beat:Scheduler`` (set by ``CELERY_BEAT_SCHEDULER``),
so no ``-S`` flag is needed. Every broker connection goes through ``_connection``; with the
embedded default, that is where the embedded Redis is started, on first use and not at import.
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery, signals

from workers import extensions

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")


class ProjectCelery(Celery):
    def _connection(self, url: Any, *args: Any, **kwargs: Any) -> Any:
        from project.redis import ensure_embedded

        ensure_embedded()
        return super()._connection(url, *args, **kwargs)  # type: ignore[misc]


@signals.setup_logging.connect
def _configure_logging(loglevel: int | str | None = None, **kwargs: Any) -> None:
    """Workers and beats log with the project's LOGGING (one format, matching the event log).

    Connecting here also stops Celery from redirecting stdout/stderr into a logger, which would
    swallow every line a handler writes to stderr.
    """
    import logging
    from logging.config import dictConfig

    from django.conf import settings

    if settings.LOGGING:  # Django's default is {}: nothing to configure
        dictConfig(settings.LOGGING)
    if loglevel:
        logging.getLogger().setLevel(loglevel)


app = ProjectCelery("project")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
extensions.install(app)
