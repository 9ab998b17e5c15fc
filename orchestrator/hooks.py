"""The one extension mechanism: typed after-hooks, each passing one frozen value to its subscribers.

A ``Hook[T]`` is named and typed by the value it sends, so a subscriber declares what it takes
(``def release(ended: RunEnded) -> None``) instead of checking types. Sending calls every
subscriber in order; a failing one is logged and never breaks the work that sent the hook. The
orchestrator knows nothing of schedules: ``scheduling`` subscribes here (e.g. to start a buffered
occurrence when the active run ends), and defines its own hooks the same way
(``scheduling.engine.hooks``).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from orchestrator.snapshots import RunSnapshot

logger = logging.getLogger(__name__)

T = TypeVar("T")


class Hook(Generic[T]):
    """Subscribers to one kind of event, each called with the event's frozen value."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._subscribers: list[Callable[[T], None]] = []

    def connect(self, subscriber: Callable[[T], None]) -> Callable[[T], None]:
        """Subscribe (idempotent); returns ``subscriber``, so it works as a decorator."""
        if subscriber not in self._subscribers:
            self._subscribers.append(subscriber)
        return subscriber

    def disconnect(self, subscriber: Callable[[T], None]) -> None:
        if subscriber in self._subscribers:
            self._subscribers.remove(subscriber)

    def send(self, value: T) -> None:
        for subscriber in list(self._subscribers):
            try:
                subscriber(value)
            except Exception:  # a subscriber's failure must never break the work that sent the hook
                logger.exception("%s hook %s failed", self.name, getattr(subscriber, "__qualname__", subscriber))


@dataclass(frozen=True, kw_only=True)
class RunEnded:
    """A run reached a final status (succeeded, failed, timed_out, cancelled)."""

    run_id: uuid.UUID
    job_key: str
    status: str
    snapshot: Mapping[str, Any]
    #: What the end reads (``orchestrator.store.EndRead``) read in the statement that recorded the end,
    #: by name; empty when the end was recorded another way (see ``EndRead``).
    read: Mapping[str, Any] = field(default_factory=dict)
    #: ``snapshot`` as the sender already read it (``RunSnapshot.of``), if it did; see ``frozen``.
    parsed: RunSnapshot | None = field(default=None, compare=False, repr=False)

    @cached_property
    def frozen(self) -> RunSnapshot:
        """``snapshot`` read once for every subscriber: each reading it again cost ~25 µs a run."""
        if self.parsed is not None:
            return self.parsed
        from orchestrator.snapshots import RunSnapshot

        return RunSnapshot.of(self.snapshot)


#: After a run reached a final status, in the process that recorded it.
run_ended: Hook[RunEnded] = Hook("run_ended")


@dataclass(frozen=True, kw_only=True)
class RunAgain:
    """A run was created again from an earlier one (``rerun.run_again``), not yet committed."""

    run_id: uuid.UUID
    original_id: uuid.UUID
    #: The schedule the original belonged to (as frozen), None for a run of no schedule.
    schedule_id: int | None
    trigger: str
    actor: str
    now: datetime


#: Inside the transaction that writes the new run: ``scheduling`` records it as an occurrence.
run_again: Hook[RunAgain] = Hook("run_again")
