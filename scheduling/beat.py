"""``beat_scheduler = "scheduling.beat:Scheduler"``: the name Celery configurations use (DESIGN.md).

The scheduler itself is ``scheduling.engine.beat.Scheduler``.
"""

from __future__ import annotations

from scheduling.engine.beat import Scheduler

__all__ = ["Scheduler"]
