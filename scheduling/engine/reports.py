"""What the engine did, as values: one handled occurrence, one tick, one maintenance pass, one cycle.

Kept apart from the code that produces them, so what consumes them (hooks, metrics, the
heartbeat, the ``scheduler`` command) imports no engine code.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from orchestrator.models import Run
from orchestrator.snapshots import PlannedRun
from scheduling.core.policies import Action


@dataclass(frozen=True, kw_only=True)
class BeatStarted:
    """A beat process set up its scheduler: the Celery app it runs for, and the time it started."""

    app: Any
    now: datetime


@dataclass(frozen=True, kw_only=True)
class Handled:
    """One occurrence a tick handled, for reports and the ``scheduler --once`` output."""

    schedule_id: int
    schedule: str
    scheduled_for: datetime
    action: Action
    reason: str = ""
    run_id: uuid.UUID | None = None
    queue: str = ""
    missed_count: int = 1


@dataclass(kw_only=True)
class TickReport:
    #: The tick's clock reading, the time its occurrences are dispatched at (``dispatched_at``).
    started_at: datetime | None = None
    #: When its runs were published, on the tick's clock (``started_at`` plus the time taken since):
    #: dispatch lag is ``published_at - scheduled_for``. For a burst prepared ahead, ``started_at``
    #: is the moment itself and the time taken is from that moment on.
    published_at: datetime | None = None
    claimed: int = 0
    handled: list[Handled] = field(default_factory=list)
    published: int = 0
    #: Runs this tick committed but could not publish (the broker refused them): they stay pending,
    #: and recovery publishes them (``MaintenanceReport.recovered``), where their lag is counted.
    unpublished: set[uuid.UUID] = field(default_factory=set)
    conflicts: int = 0
    #: Claimed while preparing ahead but left for the tick at its time (see ``dispatch_due``).
    deferred: int = 0
    errors: list[str] = field(default_factory=list)
    next_due_at: datetime | None = None
    #: When the loop got this report back (runs published, events written): set by the loop.
    finished_at: datetime | None = None

    def count(self, action: str) -> int:
        return sum(1 for item in self.handled if item.action == action)


@dataclass(kw_only=True)
class MaintenanceReport:
    #: Runs published by recovery (pending ones whose time had come, lost messages), as read before
    #: publishing (``orchestrator.recovery.announced_by_recovery``).
    recovered: list[Run] = field(default_factory=list)
    #: Runs of buffered occurrences that were started.
    released: list[PlannedRun] = field(default_factory=list)
    #: Paused schedules resumed because their ``resume_at`` came.
    resumed: int = 0
    #: Occurrences created for running backfills (``engine.backfills.fill``).
    backfilled: int = 0
    #: When the recovered runs were published, on the beat's clock (``now`` plus the time taken).
    published_at: datetime | None = None


@dataclass(kw_only=True)
class Cycle:
    """What one pass of the loop did, and how long to sleep before the next."""

    tick: TickReport | None
    maintenance: MaintenanceReport | None
    sleep_seconds: float


@dataclass(frozen=True, kw_only=True)
class RunOverdue:
    """A scheduled run not finished by ``scheduled_for + deadline_seconds``, flagged once (``engine.deadlines``)."""

    schedule_id: int
    schedule: str
    run_id: uuid.UUID
    job: str
    scheduled_for: datetime
    deadline_seconds: int
    #: When it was found overdue: a maintenance pass's ``now``, or the run's end when it ended late first.
    overdue_at: datetime
    #: The run's final status when it was found at its (late) end; empty while it is still active.
    ended_status: str = ""


@dataclass(frozen=True, kw_only=True)
class Missed:
    """One occurrence a tick recorded ``missed`` (``missed_count`` > 1: a collapsed run of them)."""

    schedule_id: int
    schedule: str
    job: str
    tenant: str
    scheduled_for: datetime
    reason: str
    missed_count: int = 1


@dataclass(frozen=True, kw_only=True)
class OccurrencesMissed:
    """The occurrences one tick recorded missed, sent once per tick by the beat that inserted them."""

    items: tuple[Missed, ...]
    now: datetime


@dataclass(frozen=True, kw_only=True)
class SchedulePaused:
    """A schedule was paused (by someone, or by itself after failures), after the pause committed."""

    schedule_id: int
    schedule: str
    job: str
    tenant: str
    by: str
    note: str
    reason: str
    paused_at: datetime
    resume_at: datetime | None = None
