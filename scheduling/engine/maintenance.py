"""The slower half of a beat, every ``SCHEDULER_MAINTENANCE_SECONDS``: what keeps nothing stranded.

Publish pending runs whose time has come (never published, retries, lost wake-ups) and queued
runs whose message the broker lost (``orchestrator.recovery``), start buffered occurrences whose
schedule has no active run (``buffered``), create the next batch of running backfills
(``backfills``), resume paused schedules whose ``resume_at`` has come (``controls``), flag runs
past their schedule's deadline (``deadlines``), then send the ``maintenance`` hook (the workers
app's reaper of runs whose worker died subscribes to it) and ``maintenance_completed`` with the report.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from orchestrator import recovery
from scheduling.engine import backfills, buffered, controls, deadlines, hooks
from scheduling.engine.reports import MaintenanceReport


def maintain(now: datetime) -> MaintenanceReport:
    report = MaintenanceReport()
    began = time.monotonic()
    report.recovered = recovery.publish_due(now=now) + recovery.republish_lost(now=now)
    report.published_at = now + timedelta(seconds=time.monotonic() - began)
    report.released = buffered.release_buffered(now)
    report.backfilled = backfills.fill(now)
    report.resumed = controls.resume_due(now)
    deadlines.mark_overdue(now)
    hooks.maintenance.send(now)
    hooks.maintenance_completed.send(report)
    return report
