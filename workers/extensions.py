"""What the workers app adds to a Celery app: the timer-pruning worker step and ``inspect runs`` / ``timers``.

``install(app)`` is idempotent and imports no Django model, so a Celery app module calls it at
import time: the standalone ``project/celery.py`` does, and a host project's ``celery.py`` should
(README, "Add it to your Django project"): the ``celery inspect runs`` command line needs the
commands registered before Django is set up. Worker processes get both from ``workers.apps``
anyway, once Django is ready.
"""

from __future__ import annotations

from typing import Any


def install(app: Any) -> None:
    """Register the worker step on ``app`` and the ``inspect`` commands (each once)."""
    from workers import inspect_runs  # noqa: F401  (registers ``inspect runs``)
    from workers.timers import PruneCancelledTimers  # also registers ``inspect timers``

    app.steps["worker"].add(PruneCancelledTimers)
