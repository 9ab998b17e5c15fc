"""What each action a tick takes on an occurrence becomes: the occurrence's status and its event's name.

The one table: the dispatch step writes the status and the event, the log lines and the
``scheduler`` command show them.
"""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator import events
from scheduling.core.policies import Action
from scheduling.models import OccurrenceStatus


@dataclass(frozen=True, kw_only=True)
class Outcome:
    status: OccurrenceStatus
    #: The event-log name. A dispatched occurrence's ``schedule_enqueued`` is written when its run is
    #: published (``orchestrator.publishing``); the others by the tick itself.
    event: str


OUTCOMES: dict[Action, Outcome] = {
    Action.DISPATCH: Outcome(status=OccurrenceStatus.DISPATCHED, event=events.SCHEDULE_ENQUEUED),
    Action.SKIP: Outcome(status=OccurrenceStatus.SKIPPED, event=events.RUN_SKIPPED),
    Action.MISS: Outcome(status=OccurrenceStatus.MISSED, event=events.RUN_MISSED),
    Action.BUFFER: Outcome(status=OccurrenceStatus.BUFFERED, event=events.RUN_BUFFERED),
}
