"""The Celery app, ``app``: ``celery -A project worker|beat|inspect ...``.

``celery -A project beat`` uses ``scheduling.beat:Scheduler`` (set by ``CELERY_BEAT_SCHEDULER``),
so no ``-S`` flag is needed. Every broker connection goes through ``_connection``; with the
embedded default, that is where the embedded Redis is started, on first use and not at import.
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")


class ProjectCelery(Celery):
    def _connection(self, url: Any, *args: Any, **kwargs: Any) -> Any:
        from project.redis import ensure_embedded

        ensure_embedded()
        return super()._connection(url, *args, **kwargs)  # type: ignore[misc]


app = ProjectCelery("project")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["workers"])
