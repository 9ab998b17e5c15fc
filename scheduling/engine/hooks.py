"""The engine's after-hooks (``orchestrator.hooks.Hook``): metrics, status pages and other apps subscribe.

A failing subscriber is logged and never breaks the tick.
"""

from __future__ import annotations

from datetime import datetime

from orchestrator.hooks import Hook
from scheduling.engine.reports import (
    BeatStarted,
    MaintenanceReport,
    OccurrencesMissed,
    RunOverdue,
    SchedulePaused,
    TickReport,
)

#: When a beat has set its scheduler up, before its first tick (the ``beat_schedule`` sync subscribes).
beat_started: Hook[BeatStarted] = Hook("beat_started")
#: After every dispatch tick that claimed something, in the beat that ran it.
tick_completed: Hook[TickReport] = Hook("tick_completed")
#: In every beat's maintenance step, with the beat's ``now`` (the workers app's reaper subscribes).
maintenance: Hook[datetime] = Hook("maintenance")
#: After every maintenance step, with what it published (the dispatch-lag metric of recovered runs).
maintenance_completed: Hook[MaintenanceReport] = Hook("maintenance_completed")
#: Once per scheduled run found unfinished past its schedule's ``deadline_seconds`` (the metric subscribes).
run_overdue: Hook[RunOverdue] = Hook("run_overdue")
#: Once per tick that recorded occurrences ``missed``, in the beat whose insert won them (notifications subscribe).
occurrences_missed: Hook[OccurrencesMissed] = Hook("occurrences_missed")
#: After a pause committed, once per schedule paused (notifications subscribe).
schedule_paused: Hook[SchedulePaused] = Hook("schedule_paused")
